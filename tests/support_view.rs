//! The support view (`mixtune::support`, `mixtune summarize --actions`/`--chats`): a chat's
//! summary and key actions generated side by side (streamed, and equal to generating each
//! prompt alone), a file of chats exported as CSV with both columns, and bad chat files
//! named with their file, line and column.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use common::tiny_flan;
use mixtune::data::SpeakerStyle;
use mixtune::generate::GenerationConfig;
use mixtune::inference::{generate_text, summary_prompt};
use mixtune::model::{load_pretrained, Pretrained};
use mixtune::support::{
    action_prompt, read_chats, summarize_chats, support_view, write_csv, SupportPart,
};

const CHAT: &str = "Customer: Hi, my order #1234 never arrived.\nAgent: Sorry! It was returned to our warehouse.\nCustomer: Can you send it again?\nAgent: Done, it ships today.";

fn model() -> Pretrained {
    load_pretrained(
        tiny_flan().to_str().unwrap(),
        &burn::tensor::Device::flex(),
        false,
    )
    .unwrap()
}

fn config() -> GenerationConfig {
    GenerationConfig {
        max_new_tokens: 12,
        ..GenerationConfig::default()
    }
}

fn mixtune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args([
            "summarize",
            "--device",
            "cpu",
            "--max-new-tokens",
            "12",
            "--model",
        ])
        .arg(tiny_flan())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn summary_and_actions_stream_side_by_side_and_equal_separate_generations() {
    let pretrained = model();
    let mut streamed: Vec<(SupportPart, String)> = Vec::new();
    let view = support_view(
        &pretrained,
        CHAT,
        SpeakerStyle::Keep,
        &config(),
        &mut |part, text| streamed.push((part, text.to_string())),
    )
    .unwrap();
    let alone = generate_text(
        &pretrained,
        &[
            summary_prompt(CHAT, SpeakerStyle::Keep).unwrap(),
            action_prompt(CHAT, SpeakerStyle::Keep).unwrap(),
        ],
        &config(),
    )
    .unwrap();
    assert_eq!(view.summary, alone[0].text);
    assert_eq!(view.actions, alone[1].text);
    for (part, text) in [
        (SupportPart::Summary, &view.summary),
        (SupportPart::Actions, &view.actions),
    ] {
        let last = streamed
            .iter()
            .rev()
            .find(|(p, _)| *p == part)
            .map(|(_, t)| t);
        if !text.is_empty() {
            assert_eq!(last, Some(text), "the last streamed {part:?} is the result");
        }
    }
    assert!(view.source_tokens > 0);
    assert_eq!(view.cut_tokens, 0);
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_file_of_chats_exports_summaries_and_actions_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let chats = write(
        dir.path(),
        "chats.jsonl",
        &[
            serde_json::json!({"id": "c1", "chat": CHAT}).to_string(),
            serde_json::json!({"id": "c2", "chat": "Customer: The app crashes on login.\nAgent: Please update to 2.1."}).to_string(),
            serde_json::json!({"id": "c3", "chat": "Customer: I was charged twice.\nAgent: I have refunded one charge."}).to_string(),
        ]
        .join("\n"),
    );
    let records = read_chats(&chats, SpeakerStyle::Keep).unwrap();
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["c1", "c2", "c3"]
    );
    let pretrained = model();
    let mut progress = Vec::new();
    let rows = summarize_chats(
        &pretrained,
        &records,
        true,
        &config(),
        2,
        &mut |done, total| progress.push((done, total)),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(progress, [(0, 3), (2, 3), (3, 3)]);
    // Batched rows equal one chat at a time.
    let single = support_view(
        &pretrained,
        CHAT,
        SpeakerStyle::Keep,
        &config(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(rows[0].summary, single.summary);
    assert_eq!(rows[0].actions.as_deref(), Some(single.actions.as_str()));

    let out_csv = dir.path().join("out.csv");
    let out = mixtune(&[
        "--chats",
        chats.to_str().unwrap(),
        "--actions",
        "--output",
        out_csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_path(&out_csv).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "dialogue", "summary", "actions"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    for (record, row) in records.iter().zip(&rows) {
        assert_eq!(&record[0], row.id);
        assert_eq!(&record[1], row.dialogue);
        assert_eq!(&record[2], row.summary);
        assert_eq!(Some(&record[3]), row.actions.as_deref());
    }

    // A CSV file with a `dialogue` column works the same; without --actions, no actions column.
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["id", "dialogue"]).unwrap();
    writer.write_record(["x1", CHAT]).unwrap();
    let csv_chats = write(
        dir.path(),
        "chats.csv",
        &String::from_utf8(writer.into_inner().unwrap()).unwrap(),
    );
    let out = mixtune(&["--chats", csv_chats.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["chats"], 1);
    assert_eq!(json["rows"][0]["summary"], rows[0].summary.as_str());
    assert!(json["rows"][0]["actions"].is_null());
    write_csv(
        &summarize_chats(
            &pretrained,
            &read_chats(&csv_chats, SpeakerStyle::Keep).unwrap(),
            false,
            &config(),
            8,
            &mut |_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap(),
        &out_csv,
    )
    .unwrap();
    let mut reader = csv::Reader::from_path(&out_csv).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["id", "dialogue", "summary"]);
}

#[test]
fn one_chat_gives_summary_and_key_actions_on_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let chat = write(dir.path(), "chat.txt", CHAT);
    let out = mixtune(&["--chat", chat.to_str().unwrap(), "--actions", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let view = support_view(
        &model(),
        CHAT,
        SpeakerStyle::Keep,
        &config(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(json["summary"], view.summary.as_str());
    assert_eq!(json["actions"], view.actions.as_str());
    let out = mixtune(&["--chat", chat.to_str().unwrap(), "--actions"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Summary:\n") && text.contains("\nKey actions:\n"),
        "{text}"
    );
    // --output needs --chats, and must be a .csv.
    assert!(
        !mixtune(&["--chat", chat.to_str().unwrap(), "--output", "x.csv"])
            .status
            .success()
    );
    let out = mixtune(&["--chats", chat.to_str().unwrap(), "--output", "x.txt"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("x.txt"));
}

#[test]
fn bad_chat_files_are_named_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(
        dir.path(),
        "broken.jsonl",
        &format!(
            "{}\n{{\"chat\": \"unclosed\n",
            serde_json::json!({"chat": CHAT})
        ),
    );
    let error = read_chats(&broken, SpeakerStyle::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("broken.jsonl") && error.contains("line 2"),
        "{error}"
    );

    let empty = write(
        dir.path(),
        "empty.jsonl",
        &format!(
            "{}\n{}\n",
            serde_json::json!({"chat": CHAT}),
            serde_json::json!({"chat": "  "})
        ),
    );
    let error = read_chats(&empty, SpeakerStyle::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("empty.jsonl") && error.contains("line 2") && error.contains("`chat`"),
        "{error}"
    );

    let other = write(dir.path(), "other.csv", "id,body\n1,hello\n");
    let error = read_chats(&other, SpeakerStyle::Keep)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("other.csv") && error.contains("no chat column") && error.contains("body"),
        "{error}"
    );

    // On the CLI: one line, exit 1, before any model loads.
    let out = mixtune(&["--chats", empty.to_str().unwrap(), "--actions"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty.jsonl") && stderr.contains("line 2"),
        "{stderr}"
    );
}
