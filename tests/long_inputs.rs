//! Inputs far past the model's length are cut, not fed whole: a 100k-character pasted chat
//! and a 5 MB dialogue in an eval file each give a summary (with the cut reported), where
//! feeding them whole would ask for gigabytes to terabytes of attention scores.

mod common;

use burn::tensor::Device;
use common::tiny_flan;
use mixtune::data::SpeakerStyle;
use mixtune::eval::compare::{evaluate, EvalRequest};
use mixtune::generate::GenerationConfig;
use mixtune::inference::{generate_text, summary_prompt};
use mixtune::model::loader::load_dir;

/// A support chat of about `chars` characters.
fn long_chat(chars: usize) -> String {
    let turns = [
        "Customer: my order #1234 never arrived and the tracking page shows nothing new",
        "Agent: sorry about that, let me check the warehouse records for you right now",
    ];
    let mut chat = String::new();
    while chat.len() < chars {
        chat.push_str(turns[chat.len() % 2]);
        chat.push('\n');
    }
    chat
}

#[test]
fn a_100k_character_chat_is_cut_and_summarized() {
    let pretrained = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let prompt = summary_prompt(&long_chat(100_000), SpeakerStyle::Keep).unwrap();
    let config = GenerationConfig {
        max_new_tokens: 8,
        ..GenerationConfig::default()
    };
    let out = generate_text(&pretrained, &[prompt], &config).unwrap();
    assert_eq!(out[0].source_tokens, config.max_source_tokens);
    assert!(out[0].cut_tokens > 10_000, "cut {}", out[0].cut_tokens);
    assert!(out[0].token_ids.len() > 1);
}

#[test]
fn a_5_mb_dialogue_in_an_eval_file_is_cut_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let rows = [
        serde_json::json!({"dialogue": long_chat(5_000_000), "summary": "The order is lost."}),
        serde_json::json!({"dialogue": "A: hi\nB: hello", "summary": "They greet."}),
    ];
    let text: Vec<String> = rows.iter().map(|row| row.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    let mut request = EvalRequest::new(tiny_flan().to_string_lossy(), &path);
    request.max_new_tokens = 8;
    let report = evaluate(
        &request,
        &Device::flex(),
        &mut |_, _| {},
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(report.examples, 2);
    assert_eq!(report.cut_inputs, 1);
    assert_eq!(report.max_source_tokens, 512);
}
