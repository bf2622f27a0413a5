//! Bad input gives a clear error naming the file and the line, row or field, never a panic
//! and never a partial dataset.

use std::fs;
use std::path::{Path, PathBuf};

use mixtune::data::{self, DataError, LoadOptions};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

fn load_error(path: &Path, options: &LoadOptions) -> String {
    let error = data::load(path, options).expect_err("bad input must fail");
    let message = error.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "message must name the file: {message}"
    );
    message
}

fn default_error(path: &Path) -> String {
    load_error(path, &LoadOptions::default())
}

const GOOD: &str = r#"{"dialogue": "A: hi\nB: bye", "summary": "They greet."}"#;

#[test]
fn malformed_json_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.jsonl",
        format!("{GOOD}\n\n{GOOD}\n{{\"dialogue\": \"x\", \"summary\": }}\n{GOOD}\n").as_bytes(),
    );
    let message = default_error(&path);
    assert!(
        message.contains(": line 4, column 30: malformed JSON"),
        "{message}"
    );
}

#[test]
fn malformed_element_of_json_array_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.json",
        format!("[\n{GOOD},\n{GOOD},\n{{\"dialogue\": 'x'}}\n]").as_bytes(),
    );
    let message = default_error(&path);
    assert!(message.contains(": line 4, column"), "{message}");
    let path = write(
        dir.path(),
        "open.json",
        format!("[\n{GOOD},\n{GOOD}\n").as_bytes(),
    );
    let message = default_error(&path);
    assert!(message.contains("unexpected end of file"), "{message}");
}

#[test]
fn json_row_that_is_not_an_object_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "list.jsonl",
        format!("{GOOD}\n[1, 2]\n").as_bytes(),
    );
    let message = default_error(&path);
    assert!(
        message.contains("line 2: expected a JSON object per row, found an array"),
        "{message}"
    );
}

#[test]
fn csv_unclosed_quote_names_the_line_it_opened_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "open.csv",
        b"dialogue,summary\n\"A: hi\nB: yo\",ok\n\"A: unfinished,summary\nB: more\n",
    );
    let message = default_error(&path);
    assert!(message.contains(": line 4: unclosed quote"), "{message}");
    let path = write(
        dir.path(),
        "open_last.csv",
        b"dialogue,summary\n\"A: hi\",\"never closed\n",
    );
    let message = default_error(&path);
    assert!(message.contains(": line 2: unclosed quote"), "{message}");
}

#[test]
fn csv_ragged_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ragged.csv",
        b"dialogue,summary\nA: hi,ok\nA: hey,ok,extra\n",
    );
    let message = default_error(&path);
    assert!(
        message.contains(": line 3 (row 2): 3 fields, but the header has 2"),
        "{message}"
    );
}

#[test]
fn truncated_parquet_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    {
        use parquet::data_type::{ByteArray, ByteArrayType};
        use std::sync::Arc;
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message m { REQUIRED BYTE_ARRAY dialogue (UTF8); REQUIRED BYTE_ARRAY summary (UTF8); }",
            )
            .unwrap(),
        );
        let properties = Arc::new(parquet::file::properties::WriterProperties::builder().build());
        let mut writer = parquet::file::writer::SerializedFileWriter::new(
            fs::File::create(&good).unwrap(),
            schema,
            properties,
        )
        .unwrap();
        let mut group = writer.next_row_group().unwrap();
        for text in ["A: hi", "They greet."] {
            let mut column = group.next_column().unwrap().unwrap();
            let values = vec![ByteArray::from(text); 50];
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)
                .unwrap();
            column.close().unwrap();
        }
        group.close().unwrap();
        writer.close().unwrap();
    }
    assert_eq!(
        data::load(&good, &LoadOptions::default())
            .unwrap()
            .records
            .len(),
        50
    );
    let bytes = fs::read(&good).unwrap();
    let path = write(dir.path(), "truncated.parquet", &bytes[..bytes.len() / 2]);
    let message = default_error(&path);
    assert!(message.contains("not a readable Parquet file"), "{message}");
    let path = write(dir.path(), "fake.parquet", b"dialogue,summary\nx,y\n");
    let message = default_error(&path);
    assert!(
        message.contains("missing the PAR1 magic bytes"),
        "{message}"
    );
}

#[test]
fn binary_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend([0u8, 0, 0, 13, 73, 72, 68, 82]);
    let path = write(dir.path(), "image.jsonl", &bytes);
    let message = default_error(&path);
    assert!(
        message.contains("binary file (NUL byte at byte offset 8)"),
        "{message}"
    );
}

#[test]
fn invalid_utf8_names_line_and_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("{GOOD}\n").into_bytes();
    let second_line_start = bytes.len();
    bytes.extend(b"{\"dialogue\": \"A: caf\xe9\", \"summary\": \"s\"}\n");
    let path = write(dir.path(), "latin1.jsonl", &bytes);
    let message = default_error(&path);
    let offset = second_line_start + "{\"dialogue\": \"A: caf".len();
    assert!(
        message.contains(&format!(": line 2: invalid UTF-8 at byte offset {offset}")),
        "{message}"
    );

    let path = write(
        dir.path(),
        "latin1.csv",
        b"dialogue,summary\nA: hi,ok\nA: caf\xe9,ok\n",
    );
    let message = default_error(&path);
    assert!(
        message.contains(": line 3: invalid UTF-8") && message.contains("column `dialogue`"),
        "{message}"
    );
}

#[test]
fn missing_mapped_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.jsonl", format!("{GOOD}\n").as_bytes());
    let options = LoadOptions {
        columns: [("topic".to_string(), "subject".to_string())]
            .into_iter()
            .collect(),
        ..LoadOptions::default()
    };
    let message = load_error(&path, &options);
    assert!(
        message.contains("column `subject` (mapped to field `topic`) is not in the file"),
        "{message}"
    );
    assert!(
        message.contains("columns are: dialogue, summary"),
        "{message}"
    );
}

#[test]
fn unrecognised_columns_ask_for_a_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "d.csv", b"question,answer\nq,a\n");
    let message = default_error(&path);
    assert!(
        message.contains("unrecognised columns (question, answer)"),
        "{message}"
    );
}

#[test]
fn empty_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("zero.jsonl", &b""[..]),
        ("blank.jsonl", b"\n  \n"),
        ("empty.json", b"[]"),
        ("header.csv", b"dialogue,summary\n"),
    ] {
        let path = write(dir.path(), name, bytes);
        match data::load(&path, &LoadOptions::default()) {
            Err(error @ DataError::Empty { .. }) => {
                assert!(
                    error.to_string().contains(name) && error.to_string().contains("empty file")
                )
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn unknown_split_value_is_named_with_row() {
    let dir = tempfile::tempdir().unwrap();
    let text = "{\"input\": \"a\", \"output\": \"b\", \"split\": \"train\"}\n{\"input\": \"a\", \"output\": \"b\", \"split\": \"holdout\"}\n";
    let path = write(dir.path(), "s.jsonl", text.as_bytes());
    let message = default_error(&path);
    assert!(
        message.contains("line 2 (row 2): column `split`: unknown split `holdout`"),
        "{message}"
    );
}

#[test]
fn bad_message_list_is_named_with_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "m.jsonl",
        b"{\"dialogue\": [{\"role\": \"user\"}], \"summary\": \"s\"}\n",
    );
    let message = default_error(&path);
    assert!(
        message.contains("line 1 (row 1): field `dialogue`: message 1 has no text"),
        "{message}"
    );
}

#[test]
fn a_non_text_value_in_a_text_field_is_named_with_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "typed.jsonl",
        format!("{GOOD}\n{{\"dialogue\": \"A: hi\", \"summary\": [104, 105]}}\n").as_bytes(),
    );
    let message = default_error(&path);
    assert!(message.contains("line 2"), "{message}");
    assert!(
        message.contains("column `summary`") && message.contains("lists or binary data"),
        "{message}"
    );
    // Numbers read as their text, as before.
    let path = write(
        dir.path(),
        "numbers.jsonl",
        b"{\"dialogue\": \"A: hi\", \"summary\": 42}\n",
    );
    let dataset = data::load(&path, &LoadOptions::default()).unwrap();
    assert_eq!(dataset.records[0].fields["summary"], "42");
}

#[test]
fn a_number_where_the_dialogue_should_be_is_refused_not_read_as_text() {
    // A Parquet or JSON int column mapped to the dialogue is a mapping mistake: "42" is not
    // a chat. Other fields may be numbers (a label), read as their text.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ints.jsonl",
        format!("{GOOD}\n{{\"dialogue\": 42, \"summary\": \"s\"}}\n").as_bytes(),
    );
    let message = default_error(&path);
    assert!(
        message.contains("line 2")
            && message.contains("`dialogue`")
            && message.contains("numbers, not text"),
        "{message}"
    );
    let labels = write(
        dir.path(),
        "labels.jsonl",
        br#"{"dialogue": "A: hi", "summary": 7}"#,
    );
    let dataset = data::load(&labels, &LoadOptions::default()).unwrap();
    assert_eq!(dataset.records[0].fields["summary"], "7");
}
