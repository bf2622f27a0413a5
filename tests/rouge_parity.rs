//! Parity with Google's `rouge-score`: every precision, recall and F-measure in
//! `tests/data/rouge_parity.json` (computed by rouge-score 0.1.2 with NLTK
//! 3.10.4) must be reproduced within 1e-6, with and without stemming.

use std::collections::BTreeMap;

use mixtune::eval::rouge::{mean_fmeasures, score, score_multi_ref, RougeScore, RougeScores};
use serde::Deserialize;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rouge_parity.json");
const TOLERANCE: f64 = 1e-6;

/// Expected scores keyed by "nostem"/"stem", then by rouge-score's type name.
type Expected = BTreeMap<String, BTreeMap<String, RougeScore>>;

#[derive(Deserialize)]
struct Case {
    name: String,
    group: String,
    prediction: String,
    reference: String,
    expected: Expected,
}

#[derive(Deserialize)]
struct MultiCase {
    name: String,
    prediction: String,
    references: Vec<String>,
    expected: Expected,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
    multi_ref: Vec<MultiCase>,
    dialogsum_mean: BTreeMap<String, BTreeMap<String, f64>>,
}

fn load() -> Fixture {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture file exists");
    serde_json::from_str(&text).expect("fixture parses")
}

fn by_type(scores: &RougeScores) -> [(&'static str, RougeScore); 4] {
    [
        ("rouge1", scores.rouge1),
        ("rouge2", scores.rouge2),
        ("rougeL", scores.rouge_l),
        ("rougeLsum", scores.rouge_lsum),
    ]
}

/// Compares one computed result with the fixture, collecting every mismatch.
fn compare(
    name: &str,
    stem: bool,
    got: &RougeScores,
    expected: &Expected,
    errors: &mut Vec<String>,
) {
    let key = if stem { "stem" } else { "nostem" };
    let want = &expected[key];
    assert_eq!(want.len(), 4, "{name}/{key}: fixture must have four types");
    for (rouge_type, got) in by_type(got) {
        let want = &want[rouge_type];
        for (field, g, w) in [
            ("precision", got.precision, want.precision),
            ("recall", got.recall, want.recall),
            ("fmeasure", got.fmeasure, want.fmeasure),
        ] {
            if (g - w).abs() > TOLERANCE {
                errors.push(format!(
                    "{name} [{key}] {rouge_type}.{field}: got {g}, want {w}"
                ));
            }
        }
    }
}

fn assert_no_errors(errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn every_case_matches_rouge_score() {
    let fixture = load();
    let handmade = fixture
        .cases
        .iter()
        .filter(|c| c.group == "handmade")
        .count();
    let dialogsum = fixture
        .cases
        .iter()
        .filter(|c| c.group == "dialogsum")
        .count();
    assert!(handmade >= 50, "only {handmade} hand-made cases");
    assert!(dialogsum >= 100, "only {dialogsum} DialogSum cases");
    let mut errors = Vec::new();
    for case in &fixture.cases {
        for stem in [false, true] {
            let got = score(&case.prediction, &case.reference, stem);
            compare(&case.name, stem, &got, &case.expected, &mut errors);
        }
    }
    assert_no_errors(errors);
}

#[test]
fn multi_reference_cases_match_score_multi() {
    let fixture = load();
    assert!(!fixture.multi_ref.is_empty());
    let mut errors = Vec::new();
    for case in &fixture.multi_ref {
        let refs: Vec<&str> = case.references.iter().map(String::as_str).collect();
        for stem in [false, true] {
            let got = score_multi_ref(&case.prediction, &refs, stem);
            compare(&case.name, stem, &got, &case.expected, &mut errors);
        }
    }
    assert_no_errors(errors);
}

#[test]
fn dialogsum_means_match() {
    let fixture = load();
    let (preds, refs): (Vec<String>, Vec<String>) = fixture
        .cases
        .iter()
        .filter(|c| c.group == "dialogsum")
        .map(|c| (c.prediction.clone(), c.reference.clone()))
        .unzip();
    for stem in [false, true] {
        let key = if stem { "stem" } else { "nostem" };
        let got = mean_fmeasures(&preds, &refs, stem).expect("same counts");
        let got = serde_json::to_value(got).expect("serialises");
        let want = &fixture.dialogsum_mean[key];
        assert_eq!(want.len(), 4);
        for (rouge_type, w) in want {
            let g = got[rouge_type.as_str()].as_f64().expect("number");
            assert!(
                (g - w).abs() <= TOLERANCE,
                "{key} {rouge_type}: got {g}, want {w}"
            );
        }
    }
}

/// Guards the fixture itself: stemming and line splitting must actually be
/// exercised, or the parity tests above would prove little.
#[test]
fn fixture_exercises_stemming_and_lsum() {
    let fixture = load();
    let differs = |c: &Case, f: fn(&BTreeMap<String, RougeScore>) -> f64| {
        (f(&c.expected["stem"]) - f(&c.expected["nostem"])).abs() > TOLERANCE
    };
    let stem_sensitive = fixture
        .cases
        .iter()
        .filter(|c| differs(c, |e| e["rouge1"].fmeasure))
        .count();
    let lsum_differs = fixture
        .cases
        .iter()
        .filter(|c| {
            let e = &c.expected["nostem"];
            (e["rougeL"].fmeasure - e["rougeLsum"].fmeasure).abs() > TOLERANCE
        })
        .count();
    assert!(
        stem_sensitive >= 20,
        "only {stem_sensitive} stemming-sensitive cases"
    );
    assert!(
        lsum_differs >= 20,
        "only {lsum_differs} cases where rougeLsum differs from rougeL"
    );
}
