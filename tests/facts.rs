//! The invented-facts check on hand-written chats and summaries, and on DialogSum's own
//! reference summaries (written from the dialogues, so nearly every fact is found).

mod common;

use mixtune::eval::facts::{check_facts, Fact, FactKind};
use mixtune::train::events::RunEvent;

const HOTEL_CHAT: &str = "Guest: Hi, this is Maria Lopez. I'd like to book a double room for \
three nights from July 20th.\nAgent: Certainly, Ms. Lopez. That's 120 dollars a night, \
booking reference #A4471.\nGuest: Great, I'll arrive around 3 p.m. on Friday.";

fn fact<'a>(facts: &'a [Fact], text: &str) -> &'a Fact {
    facts
        .iter()
        .find(|f| f.text == text)
        .unwrap_or_else(|| panic!("no fact `{text}` in {facts:#?}"))
}

#[test]
fn a_hotel_and_city_not_in_the_chat_are_invented_the_guest_is_not() {
    let summary =
        "Maria Lopez books a double room at the Grand Plaza Hotel in Boston for 3 nights.";
    let check = check_facts(HOTEL_CHAT, summary);
    let maria = fact(&check.facts, "Maria Lopez");
    assert_eq!((maria.kind, maria.invented), (FactKind::Name, false));
    let hotel = fact(&check.facts, "Grand Plaza Hotel");
    assert_eq!((hotel.kind, hotel.invented), (FactKind::Place, true));
    let city = fact(&check.facts, "Boston");
    assert_eq!((city.kind, city.invented), (FactKind::Place, true));
    // `3` matches the chat's `three`.
    assert!(!fact(&check.facts, "3").invented);
    assert_eq!(check.invented, 2);
    assert_eq!(check.facts.len(), 4, "{:#?}", check.facts);
}

#[test]
fn spans_point_into_the_summary() {
    let summary = "Ms. Lopez pays $120 a night from July 20th.";
    let check = check_facts(HOTEL_CHAT, summary);
    for f in &check.facts {
        assert_eq!(&summary[f.start..f.end], f.text);
    }
    let texts: Vec<&str> = check.facts.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, ["Ms. Lopez", "$120", "July 20th"]);
    assert_eq!(check.invented, 0, "{:#?}", check.facts);
}

#[test]
fn numbers_ids_and_dates_match_after_normalising() {
    let summary = "The booking A4471 costs 120 dollars per night, from the 20th of July, arriving at 3pm Friday.";
    let check = check_facts(HOTEL_CHAT, summary);
    let kinds: Vec<(&str, FactKind, bool)> = check
        .facts
        .iter()
        .map(|f| (f.text.as_str(), f.kind, f.invented))
        .collect();
    assert_eq!(
        kinds,
        [
            ("A4471", FactKind::Id, false),
            ("120 dollars", FactKind::Amount, false),
            ("20th of July", FactKind::Date, false),
            ("3pm", FactKind::Date, false),
            ("Friday", FactKind::Date, false),
        ]
    );
}

#[test]
fn changed_numbers_and_dates_are_invented() {
    let summary =
        "Maria pays $150 a night from July 21st, booking #A4472, arriving on Saturday at 4 p.m.";
    let check = check_facts(HOTEL_CHAT, summary);
    let invented: Vec<&str> = check
        .facts
        .iter()
        .filter(|f| f.invented)
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(
        invented,
        ["$150", "July 21st", "#A4472", "Saturday", "4 p.m"]
    );
    assert!(!fact(&check.facts, "Maria").invented);
}

#[test]
fn order_numbers_match_with_or_without_the_hash_and_plural_s_is_ignored() {
    let chat = "Customer: Hi, my order 1234 never arrived. I paid 40 dollar for it.\n\
                Agent: Sorry! It was returned to our Denver warehouse.";
    let check = check_facts(
        chat,
        "The customer's order #1234 ($40) went back to the Denvers warehouse.",
    );
    let texts: Vec<(&str, FactKind, bool)> = check
        .facts
        .iter()
        .map(|f| (f.text.as_str(), f.kind, f.invented))
        .collect();
    assert_eq!(
        texts,
        [
            ("#1234", FactKind::Id, false),
            ("$40", FactKind::Amount, false),
            ("Denvers", FactKind::Place, false),
        ]
    );
}

#[test]
fn speaker_tags_and_common_sentence_starts_are_not_facts() {
    let chat = "#Person1#: Where are you going?\n#Person2#: To the shopping mall with Jack.";
    let summary = "#Person2# is going shopping with Jack. Shopping is fun. The two of them leave.";
    let check = check_facts(chat, summary);
    let texts: Vec<&str> = check.facts.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(texts, ["Jack"]);
    assert_eq!(check.invented, 0);
}

#[test]
fn a_name_at_a_sentence_start_that_the_chat_lacks_is_invented() {
    let chat = "#Person1#: Can you help me move on Sunday?\n#Person2#: Sure.";
    let check = check_facts(chat, "Tom asks #Person2# to help him move on Sunday.");
    let tom = fact(&check.facts, "Tom");
    assert!(tom.invented);
    assert!(!fact(&check.facts, "Sunday").invented);
    assert_eq!(check.rate(), 0.5);
}

#[test]
fn percentages_and_demonyms() {
    let chat = "A: The bank in China gives 3.5 percent. B: And the one in America?";
    let check = check_facts(chat, "Chinese banks pay 3.5% but American ones pay 4%.");
    let texts: Vec<(&str, bool)> = check
        .facts
        .iter()
        .map(|f| (f.text.as_str(), f.invented))
        .collect();
    assert_eq!(
        texts,
        [
            ("Chinese", false),
            ("3.5%", false),
            ("American", false),
            ("4%", true)
        ]
    );
}

#[test]
fn an_empty_summary_has_no_facts_and_rate_zero() {
    let check = check_facts(HOTEL_CHAT, "");
    assert!(check.facts.is_empty());
    assert_eq!(check.rate(), 0.0);
}

#[test]
fn json_shape_has_lower_case_kinds() {
    let check = check_facts("Bob lives here.", "Bob moved to Rome.");
    let value = serde_json::to_value(&check).unwrap();
    assert_eq!(value["invented"], 1);
    assert_eq!(value["facts"][0]["text"], "Bob");
    assert_eq!(value["facts"][0]["kind"], "name");
    assert_eq!(value["facts"][0]["invented"], false);
    assert_eq!(value["facts"][1]["kind"], "place");
    assert_eq!(value["facts"][1]["invented"], true);
}

/// DialogSum's references are written from their dialogues: under 5% of their facts should be
/// invented (the few left are names the annotators knew from elsewhere, and typos).
#[test]
fn dialogsum_references_invent_few_facts() {
    let path = common::shared().join("data/dialogsum/dialogsum.dev.jsonl");
    let text = std::fs::read_to_string(&path).expect("DialogSum dev split");
    let (mut facts, mut invented) = (0, 0);
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let check = check_facts(
            row["dialogue"].as_str().unwrap(),
            row["summary"].as_str().unwrap(),
        );
        facts += check.facts.len();
        invented += check.invented;
    }
    assert!(facts > 400, "only {facts} facts found in 500 summaries");
    let rate = invented as f64 / facts as f64;
    assert!(rate < 0.05, "{invented} of {facts} invented");
}

/// `mixtune facts`: the chat from a file, the summary from standard input, JSON out.
#[test]
fn cli_prints_the_facts_as_json() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.txt");
    std::fs::write(&chat, HOTEL_CHAT).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["facts", "--json", "--summary-file", "-", "--source"])
        .arg(&chat)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Maria Lopez stays at the Ritz in Paris.")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["invented"], 2);
    let facts: Vec<(String, String, bool)> = value["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["text"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
                f["invented"].as_bool().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("Maria Lopez", "name", false),
        ("Ritz", "place", true),
        ("Paris", "place", true),
    ];
    let expected: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(t, k, i)| (t.to_string(), k.to_string(), *i))
        .collect();
    assert_eq!(facts, expected);
}

#[test]
fn cli_names_a_missing_source_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args([
            "facts",
            "--source",
            "no/such/chat.txt",
            "--summary",
            "Bob left.",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: reading no/such/chat.txt:") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// `eval` reports, per model, the invented share of all its predictions' facts, and per
/// example the invented facts, as `check_facts` gives them; the CSV carries them too.
#[test]
fn eval_reports_the_invented_rate_and_each_examples_invented_facts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chats.jsonl");
    let test =
        std::fs::read_to_string(common::shared().join("data/dialogsum/dialogsum.test.jsonl"))
            .unwrap();
    std::fs::write(&data, test.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    let model = common::tiny_flan().to_string_lossy().into_owned();
    let mut request = mixtune::eval::compare::EvalRequest::new(model, &data);
    request.max_new_tokens = 12;
    let report = mixtune::eval::compare::evaluate(
        &request,
        &burn::tensor::Device::flex(),
        &mut |_, _| {},
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    let (mut facts, mut invented) = (0, 0);
    for row in &report.rows {
        let check = check_facts(&row.source, &row.predictions[0]);
        assert_eq!(row.invented, [check.invented_texts()], "{}", row.id);
        facts += check.facts.len();
        invented += check.invented;
    }
    let scores = &report.models[0];
    assert_eq!(scores.invented_facts, invented);
    let expected = if facts == 0 {
        0.0
    } else {
        invented as f64 / facts as f64
    };
    assert_eq!(scores.invented_rate, expected);
    let csv_path = dir.path().join("predictions.csv");
    mixtune::eval::compare::write_csv(&report, &csv_path).unwrap();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.lines().next().unwrap().contains(",invented_1,"),
        "{csv}"
    );
}

/// Validation during training reports each task's invented-facts rate: with every
/// validation prediction among the samples, it is recomputed from them.
#[test]
fn validation_reports_the_invented_rate_per_task() {
    let dir = tempfile::tempdir().unwrap();
    common::runs::write_run(
        dir.path(),
        20,
        3,
        "max_steps = 1\neval_every = 1\neval_examples = 3\nsample_predictions = 6\neval_max_new_tokens = 12\n",
    );
    let mut evals = Vec::new();
    common::runs::run(
        dir.path(),
        false,
        &mixtune::train::RunControl::default(),
        &mut |event| {
            if let RunEvent::Eval(eval) = event {
                evals.push(eval.clone());
            }
        },
    )
    .unwrap();
    let eval = evals.last().expect("a validation pass");
    assert_eq!(eval.samples.len(), 6);
    for (task, scores) in &eval.tasks {
        let (mut facts, mut invented) = (0, 0);
        for sample in eval.samples.iter().filter(|s| &s.task == task) {
            let check = check_facts(&sample.source, &sample.prediction);
            facts += check.facts.len();
            invented += check.invented;
        }
        let expected = invented as f64 / facts.max(1) as f64;
        assert_eq!(scores.invented_rate, expected, "task {task}");
    }
    let log = std::fs::read_to_string(dir.path().join("out/metrics.jsonl")).unwrap();
    assert!(log.contains("\"invented_rate\""), "{log}");
}
