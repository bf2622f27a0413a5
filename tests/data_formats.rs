//! Every supported format and schema, read from small files made in a tempdir and from
//! the DialogSum files in `../shared`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mixtune::data::{self, Format, LoadOptions, Record, SchemaKind, SpeakerStyle, Split};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{json, Value};

const DIALOGSUM_DEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/dialogsum/dialogsum.dev.jsonl"
);
const DIALOGSUM_TEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/dialogsum/dialogsum.test.jsonl"
);

fn dev_rows(count: usize) -> Vec<serde_json::Map<String, Value>> {
    fs::read_to_string(DIALOGSUM_DEV)
        .unwrap()
        .lines()
        .take(count)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn load(path: &Path) -> data::Dataset {
    data::load(path, &LoadOptions::default()).unwrap()
}

fn field<'a>(record: &'a Record, name: &str) -> &'a str {
    record.fields[name].as_str()
}

/// Writes string columns (None = null) as a Snappy-compressed Parquet file.
fn write_parquet(path: &Path, columns: &[(&str, Vec<Option<&str>>)]) {
    let fields: String = columns
        .iter()
        .map(|(name, _)| format!("OPTIONAL BYTE_ARRAY {name} (UTF8);"))
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message schema {{ {fields} }}")).unwrap());
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer =
        SerializedFileWriter::new(File::create(path).unwrap(), schema, properties).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for (_, values) in columns {
        let mut column = group.next_column().unwrap().unwrap();
        let present: Vec<ByteArray> = values
            .iter()
            .flatten()
            .map(|value| ByteArray::from(*value))
            .collect();
        let levels: Vec<i16> = values
            .iter()
            .map(|value| i16::from(value.is_some()))
            .collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&present, Some(&levels), None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn dialogsum_dev_jsonl_is_detected_and_loaded() {
    let dataset = load(Path::new(DIALOGSUM_DEV));
    assert_eq!(dataset.format, Format::Jsonl);
    assert_eq!(dataset.schema.kind, SchemaKind::DialogSum);
    assert_eq!(dataset.schema.id_column.as_deref(), Some("fname"));
    assert_eq!(dataset.records.len(), 500);
    let first = &dataset.records[0];
    assert_eq!(first.id, "dev_0");
    assert!(field(first, "dialogue")
        .starts_with("#Person1#: Hello, how are you doing today?\n#Person2#: I ' Ve"));
    assert_eq!(field(first, "dialogue").lines().count(), 10);
    assert_eq!(field(first, "topic"), "see a doctor");
    assert_eq!(first.location.line, Some(1));
    let train = dataset.split(Split::Train).count();
    assert!(
        (350..=450).contains(&train),
        "train split has {train} of 500"
    );
}

#[test]
fn dialogsum_test_multi_reference_layout() {
    let dataset = load(Path::new(DIALOGSUM_TEST));
    assert_eq!(dataset.schema.kind, SchemaKind::DialogSumMulti);
    let first = &dataset.records[0];
    assert_eq!(first.id, "test_0");
    assert!(field(first, "summary").starts_with("Ms. Dawson helps #Person1# to write a memo"));
    assert_eq!(field(first, "topic"), "communication method");
    assert_eq!(field(first, "topic3"), "dictation");
    assert!(field(first, "summary2").starts_with("In order to prevent employees"));
}

#[test]
fn json_array_and_data_object_match_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dev_rows(20);
    let array = dir.path().join("rows.json");
    fs::write(&array, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    let object = dir.path().join("wrapped.json");
    fs::write(
        &object,
        serde_json::to_string(&json!({"version": "1.0", "data": rows})).unwrap(),
    )
    .unwrap();
    let lines = dir.path().join("rows.jsonl");
    let text: String = rows
        .iter()
        .map(|row| format!("{}\n", Value::Object(row.clone())))
        .collect();
    fs::write(&lines, text).unwrap();

    let expected = load(&lines);
    for path in [&array, &object] {
        let dataset = load(path);
        assert_eq!(dataset.format, Format::Json, "{}", path.display());
        assert_eq!(dataset.records.len(), 20);
        for (got, want) in dataset.records.iter().zip(&expected.records) {
            assert_eq!(
                (&got.id, &got.fields, got.split),
                (&want.id, &want.fields, want.split)
            );
        }
    }
    // Pretty-printed: `[`, then six lines per object, so the second one starts on line 8.
    assert_eq!(load(&array).records[1].location.line, Some(8));
}

#[test]
fn csv_and_tsv_with_quoted_multiline_fields() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dev_rows(15);
    for (name, delimiter) in [("d.csv", b','), ("d.tsv", b'\t')] {
        let path = dir.path().join(name);
        let mut writer = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .from_path(&path)
            .unwrap();
        writer
            .write_record(["fname", "dialogue", "summary", "topic"])
            .unwrap();
        for row in &rows {
            let cells: Vec<&str> = ["fname", "dialogue", "summary", "topic"]
                .iter()
                .map(|key| row[*key].as_str().unwrap())
                .collect();
            writer.write_record(cells).unwrap();
        }
        writer.flush().unwrap();
        let dataset = load(&path);
        assert_eq!(
            dataset.format,
            if delimiter == b',' {
                Format::Csv
            } else {
                Format::Tsv
            }
        );
        assert_eq!(dataset.schema.kind, SchemaKind::DialogSum);
        assert_eq!(dataset.records.len(), 15);
        for (record, row) in dataset.records.iter().zip(&rows) {
            assert_eq!(record.id, row["fname"].as_str().unwrap());
            assert_eq!(field(record, "dialogue"), row["dialogue"].as_str().unwrap());
        }
        // Row 2 starts after the header and row 1's ten dialogue lines.
        assert_eq!(dataset.records[1].location.line, Some(12));
    }
}

#[test]
fn parquet_string_columns_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-00000-of-00001.parquet");
    write_parquet(
        &path,
        &[
            ("id", vec![Some("a"), Some("b"), Some("c")]),
            (
                "dialogue",
                vec![Some("Amy: hi\nBob: hey"), Some("Bob: yo"), Some("Cy: ok")],
            ),
            ("summary", vec![Some("Greetings."), None, Some("OK.")]),
        ],
    );
    let dataset = load(&path);
    assert_eq!(dataset.format, Format::Parquet);
    assert_eq!(dataset.schema.kind, SchemaKind::SamSum);
    let ids: Vec<&str> = dataset
        .records
        .iter()
        .map(|record| record.id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(field(&dataset.records[0], "dialogue"), "Amy: hi\nBob: hey");
    assert_eq!(field(&dataset.records[1], "summary"), "");
    assert_eq!(dataset.records[2].location.row, 3);
}

/// (id, [(role, content)], notes) of one chat row.
type ChatRow = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn parquet_message_list_column_becomes_a_dialogue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chats.parquet");
    let schema = "message schema {
        REQUIRED BYTE_ARRAY id (UTF8);
        OPTIONAL group messages (LIST) {
            REPEATED group list {
                OPTIONAL group element {
                    OPTIONAL BYTE_ARRAY role (UTF8);
                    OPTIONAL BYTE_ARRAY content (UTF8);
                }
            }
        }
        REQUIRED BYTE_ARRAY notes (UTF8);
    }";
    let rows: [ChatRow; 2] = [
        (
            "t1",
            &[
                ("customer", "My card is blocked."),
                ("agent", "I will unblock it."),
            ],
            "unblock card",
        ),
        ("t2", &[("customer", "Where is my parcel?")], "track parcel"),
    ];
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let mut writer = SerializedFileWriter::new(
        File::create(&path).unwrap(),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut write =
        |values: Vec<ByteArray>, definition: Option<Vec<i16>>, repetition: Option<Vec<i16>>| {
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, definition.as_deref(), repetition.as_deref())
                .unwrap();
            column.close().unwrap();
        };
    write(
        rows.iter().map(|row| ByteArray::from(row.0)).collect(),
        None,
        None,
    );
    for part in [0, 1] {
        let mut values = Vec::new();
        let mut repetition = Vec::new();
        for (_, messages, _) in &rows {
            for (index, message) in messages.iter().enumerate() {
                values.push(ByteArray::from(if part == 0 {
                    message.0
                } else {
                    message.1
                }));
                repetition.push(i16::from(index > 0));
            }
        }
        write(values, Some(vec![4; repetition.len()]), Some(repetition));
    }
    write(
        rows.iter().map(|row| ByteArray::from(row.2)).collect(),
        None,
        None,
    );
    group.close().unwrap();
    writer.close().unwrap();

    let options = LoadOptions {
        columns: [("dialogue", "messages"), ("summary", "notes")]
            .iter()
            .map(|(field, column)| (field.to_string(), column.to_string()))
            .collect(),
        speakers: SpeakerStyle::PersonTags,
        ..LoadOptions::default()
    };
    let dataset = data::load(&path, &options).unwrap();
    // Mapped fields count as present, so dialogue + summary is recognised as SAMSum.
    assert_eq!(dataset.schema.kind, SchemaKind::SamSum);
    assert_eq!(
        field(&dataset.records[0], "dialogue"),
        "#Person1#: My card is blocked.\n#Person2#: I will unblock it."
    );
    assert_eq!(
        field(&dataset.records[1], "dialogue"),
        "#Person1#: Where is my parcel?"
    );
    assert_eq!(field(&dataset.records[1], "summary"), "track parcel");
}

#[test]
fn samsum_csv_names_kept_or_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samsum.csv");
    fs::write(
        &path,
        "id,dialogue,summary\n13818513,\"Amanda: I baked cookies. Do you want some?\nJerry: Sure!\nAmanda: I'll bring you tomorrow :-)\",Amanda baked cookies and will bring Jerry some tomorrow.\n",
    )
    .unwrap();
    let kept = load(&path);
    assert_eq!(kept.schema.kind, SchemaKind::SamSum);
    assert_eq!(kept.records[0].id, "13818513");
    assert_eq!(
        field(&kept.records[0], "dialogue"),
        "Amanda: I baked cookies. Do you want some?\nJerry: Sure!\nAmanda: I'll bring you tomorrow :-)"
    );
    let options = LoadOptions {
        speakers: SpeakerStyle::PersonTags,
        ..LoadOptions::default()
    };
    let tagged = data::load(&path, &options).unwrap();
    assert_eq!(
        field(&tagged.records[0], "dialogue"),
        "#Person1#: I baked cookies. Do you want some?\n#Person2#: Sure!\n#Person1#: I'll bring you tomorrow :-)"
    );
}

#[test]
fn generic_pairs_and_split_column() {
    let dir = tempfile::tempdir().unwrap();
    for (name, input, target) in [
        ("a.jsonl", "input", "output"),
        ("b.jsonl", "text", "target"),
        ("c.jsonl", "prompt", "response"),
    ] {
        let path = dir.path().join(name);
        let rows = [
            json!({input: "q1", target: "a1", "split": "train"}),
            json!({input: "q2", target: "a2", "split": "dev"}),
            json!({input: "q3", target: "a3", "split": "test"}),
        ];
        fs::write(
            &path,
            rows.iter()
                .map(|row| format!("{row}\n"))
                .collect::<String>(),
        )
        .unwrap();
        let dataset = load(&path);
        assert_eq!(dataset.schema.kind, SchemaKind::Generic, "{name}");
        let record = &dataset.records[1];
        assert_eq!(
            (field(record, "input"), field(record, "target")),
            ("q2", "a2")
        );
        assert_eq!(record.id, format!("{}:2", name.trim_end_matches(".jsonl")));
        let splits: Vec<Split> = dataset.records.iter().map(|record| record.split).collect();
        assert_eq!(splits, [Split::Train, Split::Validation, Split::Test]);
    }
}

#[test]
fn explicit_mapping_with_timestamped_and_json_chats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("support.jsonl");
    let rows = [
        json!({"ticket": "T-1", "chat": "[10:32] Agent: Hello, how can I help?\n[10:33] Customer: My router\nkeeps rebooting.", "need": "fix router", "next": "send a technician"}),
        json!({"ticket": "T-2", "chat": [{"role": "customer", "content": "Refund please"}, {"role": "agent", "content": "Done."}], "need": "refund", "next": "refund order"}),
        json!({"ticket": "T-3", "chat": "[{\"author\": \"bot\", \"text\": \"Hi\"}]", "need": "", "next": "none"}),
    ];
    fs::write(
        &path,
        rows.iter()
            .map(|row| format!("{row}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let options = LoadOptions {
        columns: [
            ("dialogue", "chat"),
            ("request", "need"),
            ("action", "next"),
            ("id", "ticket"),
        ]
        .iter()
        .map(|(field, column)| (field.to_string(), column.to_string()))
        .collect(),
        split: Some(Split::Train),
        ..LoadOptions::default()
    };
    let dataset = data::load(&path, &options).unwrap();
    assert_eq!(dataset.schema.kind, SchemaKind::Custom);
    let dialogues: Vec<&str> = dataset
        .records
        .iter()
        .map(|record| field(record, "dialogue"))
        .collect();
    assert_eq!(
        dialogues,
        [
            "Agent: Hello, how can I help?\nCustomer: My router keeps rebooting.",
            "customer: Refund please\nagent: Done.",
            "bot: Hi"
        ]
    );
    assert_eq!(dataset.records[1].id, "T-2");
    assert!(dataset
        .records
        .iter()
        .all(|record| record.split == Split::Train));
}

#[test]
fn seeded_split_is_deterministic_and_seed_dependent() {
    let path = PathBuf::from(DIALOGSUM_DEV);
    let splits = |seed| -> Vec<Split> {
        let options = LoadOptions {
            seed,
            ..LoadOptions::default()
        };
        data::load(&path, &options)
            .unwrap()
            .records
            .iter()
            .map(|record| record.split)
            .collect()
    };
    assert_eq!(splits(1), splits(1));
    let changed = splits(1)
        .iter()
        .zip(splits(2))
        .filter(|(a, b)| **a != *b)
        .count();
    assert!(
        changed > 50,
        "only {changed} records changed split with the seed"
    );
}

#[test]
fn records_stream_without_loading_the_file() {
    let options = LoadOptions::default();
    let mut reader = data::RecordReader::open(Path::new(DIALOGSUM_TEST), &options).unwrap();
    assert_eq!(reader.format(), Format::Jsonl);
    assert_eq!(reader.columns().len(), 8);
    let third = reader.nth(2).unwrap().unwrap();
    assert_eq!(third.id, "test_2");
    assert_eq!(reader.count(), 497);
}
