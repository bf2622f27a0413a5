//! ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum with the same numbers as Google's
//! `rouge-score` 0.1.2 (`RougeScorer(["rouge1", "rouge2", "rougeL",
//! "rougeLsum"], use_stemmer=stem)`), checked by `tests/rouge_parity.rs`.
//!
//! This is our own port rather than the `rougers` crate: rougers 0.2.1 does
//! follow rouge-score, but it pins exact versions of ICU and Unicode crates
//! (`icu_properties = "=2.3.0"`, `unicode-segmentation = "=1.13.3"`, ...),
//! while the workspace already locks ICU 2.4 (`icu_normalizer` 2.4 needs
//! `icu_properties ~2.4.0`), so adding it would downgrade that stack or fail
//! to resolve; it also brings six crates for tokenizer profiles we do not use.
//! The port is small and checked value by value against Python.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lcs::{lcs_len, union_lcs_hits};
use super::tokenize::tokenize;

/// Precision, recall and F-measure of one ROUGE variant for one example.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RougeScore {
    pub precision: f64,
    pub recall: f64,
    pub fmeasure: f64,
}

impl RougeScore {
    /// Builds a score from precision and recall, with rouge-score's F-measure
    /// (harmonic mean, 0 when both are 0).
    pub fn new(precision: f64, recall: f64) -> Self {
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        RougeScore {
            precision,
            recall,
            fmeasure,
        }
    }
}

/// The four ROUGE variants of one prediction against one (or the best) reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RougeScores {
    pub rouge1: RougeScore,
    pub rouge2: RougeScore,
    #[serde(rename = "rougeL")]
    pub rouge_l: RougeScore,
    #[serde(rename = "rougeLsum")]
    pub rouge_lsum: RougeScore,
}

/// Mean F-measure of each variant over a set of examples (plain arithmetic
/// mean of per-example F-measures, no bootstrap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct MeanRouge {
    pub rouge1: f64,
    pub rouge2: f64,
    #[serde(rename = "rougeL")]
    pub rouge_l: f64,
    #[serde(rename = "rougeLsum")]
    pub rouge_lsum: f64,
}

/// One ROUGE variant of a [`MeanRouge`]: its display name and its field.
pub type RougeVariant = (&'static str, fn(&MeanRouge) -> f64);

impl MeanRouge {
    /// The four F-measures by display name (`ROUGE-1` … `ROUGE-Lsum`), in table order.
    pub const VARIANTS: [RougeVariant; 4] = [
        ("ROUGE-1", |m| m.rouge1),
        ("ROUGE-2", |m| m.rouge2),
        ("ROUGE-L", |m| m.rouge_l),
        ("ROUGE-Lsum", |m| m.rouge_lsum),
    ];
}

/// Why a set of examples could not be scored or read.
#[derive(Debug, thiserror::Error)]
pub enum RougeError {
    #[error("{predictions} predictions but {references} references: the counts must match")]
    CountMismatch {
        predictions: usize,
        references: usize,
    },
    #[error("no examples to score")]
    NoExamples,
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}:{line}: invalid UTF-8", path.display())]
    InvalidUtf8 { path: PathBuf, line: usize },
}

/// Tokens of a whole text and of its newline-separated sentences.
struct Tokenized {
    tokens: Vec<String>,
    sentences: Vec<Vec<String>>,
}

impl Tokenized {
    /// rougeLsum sentences are the lines of the text; empty lines are dropped
    /// (rouge-score keeps whitespace-only lines, which tokenize to nothing).
    fn new(text: &str, stem: bool) -> Self {
        Tokenized {
            tokens: tokenize(text, stem),
            sentences: text
                .split('\n')
                .filter(|line| !line.is_empty())
                .map(|line| tokenize(line, stem))
                .collect(),
        }
    }
}

/// Scores `prediction` against `reference` (rouge-score's `score(target,
/// prediction)`; precision is relative to the prediction). For rougeLsum,
/// sentences are the `\n`-separated lines of each text.
pub fn score(prediction: &str, reference: &str, stem: bool) -> RougeScores {
    let prediction = Tokenized::new(prediction, stem);
    let reference = Tokenized::new(reference, stem);
    score_tokenized(&prediction, &reference)
}

/// Scores `prediction` against each reference and keeps, per variant, the
/// reference with the highest F-measure (the first one on ties), like
/// rouge-score's `score_multi`. No references gives all zeros.
pub fn score_multi_ref(prediction: &str, references: &[&str], stem: bool) -> RougeScores {
    let prediction = Tokenized::new(prediction, stem);
    let all: Vec<RougeScores> = references
        .iter()
        .map(|r| score_tokenized(&prediction, &Tokenized::new(r, stem)))
        .collect();
    let best = |pick: fn(&RougeScores) -> RougeScore| {
        all.iter()
            .map(pick)
            .fold(None, |best: Option<RougeScore>, s| match best {
                Some(b) if b.fmeasure >= s.fmeasure => Some(b),
                _ => Some(s),
            })
    };
    RougeScores {
        rouge1: best(|s| s.rouge1).unwrap_or_default(),
        rouge2: best(|s| s.rouge2).unwrap_or_default(),
        rouge_l: best(|s| s.rouge_l).unwrap_or_default(),
        rouge_lsum: best(|s| s.rouge_lsum).unwrap_or_default(),
    }
}

/// Mean F-measure of each variant over paired predictions and references:
/// the plain mean of per-example F-measures (what `evaluate`'s rouge gives
/// with `use_aggregator=False`, averaged), not rouge-score's bootstrap
/// `BootstrapAggregator` mid value.
pub fn mean_fmeasures(
    preds: &[String],
    refs: &[String],
    stem: bool,
) -> Result<MeanRouge, RougeError> {
    if preds.len() != refs.len() {
        return Err(RougeError::CountMismatch {
            predictions: preds.len(),
            references: refs.len(),
        });
    }
    if preds.is_empty() {
        return Err(RougeError::NoExamples);
    }
    let mut sum = MeanRouge::default();
    for (p, r) in preds.iter().zip(refs) {
        let s = score(p, r, stem);
        sum.rouge1 += s.rouge1.fmeasure;
        sum.rouge2 += s.rouge2.fmeasure;
        sum.rouge_l += s.rouge_l.fmeasure;
        sum.rouge_lsum += s.rouge_lsum.fmeasure;
    }
    let n = preds.len() as f64;
    Ok(MeanRouge {
        rouge1: sum.rouge1 / n,
        rouge2: sum.rouge2 / n,
        rouge_l: sum.rouge_l / n,
        rouge_lsum: sum.rouge_lsum / n,
    })
}

/// Reads one example per line. An empty line is an empty example, a final
/// newline does not start another one, and a `\r` before a newline is dropped.
pub fn read_lines_file(path: impl AsRef<Path>) -> Result<Vec<String>, RougeError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| RougeError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|_| RougeError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: i + 1,
            })
        })
        .collect()
}

fn score_tokenized(prediction: &Tokenized, reference: &Tokenized) -> RougeScores {
    RougeScores {
        rouge1: ngram_score(&prediction.tokens, &reference.tokens, 1),
        rouge2: ngram_score(&prediction.tokens, &reference.tokens, 2),
        rouge_l: lcs_score(&prediction.tokens, &reference.tokens),
        rouge_lsum: summary_lcs_score(&prediction.sentences, &reference.sentences),
    }
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

/// rouge-score's `_score_ngrams`: clipped n-gram overlap, each count at least 1
/// in the denominators.
fn ngram_score(prediction: &[String], reference: &[String], n: usize) -> RougeScore {
    let pred = ngram_counts(prediction, n);
    let refs = ngram_counts(reference, n);
    let overlap: usize = refs
        .iter()
        .map(|(gram, &count)| count.min(pred.get(gram).copied().unwrap_or(0)))
        .sum();
    let pred_total: usize = pred.values().sum();
    let ref_total: usize = refs.values().sum();
    RougeScore::new(
        overlap as f64 / pred_total.max(1) as f64,
        overlap as f64 / ref_total.max(1) as f64,
    )
}

/// rouge-score's `_score_lcs`.
fn lcs_score(prediction: &[String], reference: &[String]) -> RougeScore {
    if prediction.is_empty() || reference.is_empty() {
        return RougeScore::default();
    }
    let lcs = lcs_len(reference, prediction) as f64;
    RougeScore::new(lcs / prediction.len() as f64, lcs / reference.len() as f64)
}

/// rouge-score's `_summary_level_lcs`.
fn summary_lcs_score(prediction: &[Vec<String>], reference: &[Vec<String>]) -> RougeScore {
    let pred_len: usize = prediction.iter().map(Vec::len).sum();
    let ref_len: usize = reference.iter().map(Vec::len).sum();
    if pred_len == 0 || ref_len == 0 {
        return RougeScore::default();
    }
    let hits = union_lcs_hits(reference, prediction) as f64;
    RougeScore::new(hits / pred_len as f64, hits / ref_len as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn cat_on_the_mat() {
        let s = score("the cat sat on the mat", "the cat is on the mat", false);
        // 5 of 6 unigrams shared: the, cat, on, the, mat.
        assert!(close(s.rouge1.precision, 5.0 / 6.0));
        assert!(close(s.rouge1.recall, 5.0 / 6.0));
        assert!(close(s.rouge1.fmeasure, 5.0 / 6.0));
        // Bigrams shared: "the cat", "on the", "the mat" = 3 of 5.
        assert!(close(s.rouge2.fmeasure, 3.0 / 5.0));
        // LCS: the cat on the mat = 5.
        assert!(close(s.rouge_l.fmeasure, 5.0 / 6.0));
        assert!(close(s.rouge_lsum.fmeasure, 5.0 / 6.0));
    }

    #[test]
    fn precision_is_relative_to_the_prediction() {
        let s = score("the cat", "the cat sat on the mat", false);
        assert!(close(s.rouge1.precision, 1.0));
        assert!(close(s.rouge1.recall, 2.0 / 6.0));
        assert!(close(s.rouge1.fmeasure, 2.0 * (1.0 / 3.0) / (4.0 / 3.0)));
    }

    #[test]
    fn empty_texts_score_zero() {
        for (p, r) in [("", "a b"), ("a b", ""), ("", ""), ("...", "!!")] {
            assert_eq!(score(p, r, true), RougeScores::default(), "{p:?} vs {r:?}");
        }
    }

    #[test]
    fn stemming_matches_inflections() {
        let plain = score("he was running", "he runs", false);
        let stemmed = score("he was running", "he runs", true);
        assert!(close(plain.rouge1.recall, 0.5));
        assert!(close(stemmed.rouge1.recall, 1.0));
    }

    #[test]
    fn lsum_uses_lines_and_differs_from_l() {
        // rougeL: LCS("a b c d", "c d a b") = 2. Per line, the union LCS finds all 4.
        let s = score("c d\na b", "a b\nc d", false);
        assert!(close(s.rouge_l.fmeasure, 0.5));
        assert!(close(s.rouge_lsum.fmeasure, 1.0));
        // Empty and blank lines add no tokens.
        let t = score("c d\n\n \na b\n", "a b\nc d", false);
        assert!(close(t.rouge_lsum.fmeasure, 1.0));
    }

    #[test]
    fn multi_ref_takes_the_best_per_variant_first_on_ties() {
        let s = score_multi_ref("a b c", &["x y z", "a b c", "a b c d"], false);
        assert!(close(s.rouge1.fmeasure, 1.0));
        // Both references give F = 2/3, with precision and recall swapped.
        let first_of_tie = score_multi_ref("a b", &["a", "a b c d"], false);
        assert_eq!(first_of_tie.rouge1, score("a b", "a", false).rouge1);
        let reversed = score_multi_ref("a b", &["a b c d", "a"], false);
        assert_eq!(reversed.rouge1, score("a b", "a b c d", false).rouge1);
        assert_eq!(score_multi_ref("a", &[], false), RougeScores::default());
    }

    #[test]
    fn mean_is_plain_mean_of_fmeasures() {
        let preds = vec!["a b".to_string(), "x".to_string()];
        let refs = vec!["a b".to_string(), "y".to_string()];
        let m = mean_fmeasures(&preds, &refs, false).expect("same counts");
        assert!(close(m.rouge1, 0.5));
        assert!(close(m.rouge2, 0.5));
        assert!(close(m.rouge_l, 0.5));
        assert!(close(m.rouge_lsum, 0.5));
        let json = serde_json::to_value(m).expect("serialises");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4);
        for key in ["rouge1", "rouge2", "rougeL", "rougeLsum"] {
            assert!(keys.contains(&key), "missing {key} in {json}");
        }
    }

    #[test]
    fn mean_rejects_count_mismatch_and_no_examples() {
        let err = mean_fmeasures(&["a".to_string()], &[], false).expect_err("mismatch");
        let msg = err.to_string();
        assert!(
            msg.contains("1 predictions") && msg.contains("0 references"),
            "{msg}"
        );
        assert!(matches!(
            mean_fmeasures(&[], &[], false),
            Err(RougeError::NoExamples)
        ));
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(bytes).expect("write");
        file
    }

    #[test]
    fn read_lines_keeps_empty_lines_and_ignores_final_newline() {
        let file = write_temp(b"first\n\nthird\r\n");
        let lines = read_lines_file(file.path()).expect("valid file");
        assert_eq!(lines, ["first", "", "third"]);
        let no_final_newline = write_temp(b"a\nb");
        assert_eq!(
            read_lines_file(no_final_newline.path()).expect("valid"),
            ["a", "b"]
        );
        let one_empty = write_temp(b"\n");
        assert_eq!(read_lines_file(one_empty.path()).expect("valid"), [""]);
        let empty = write_temp(b"");
        assert!(read_lines_file(empty.path()).expect("valid").is_empty());
    }

    #[test]
    fn read_lines_names_file_and_line_of_invalid_utf8() {
        let file = write_temp(b"ok\nfine\nbad \xff byte\n");
        let err = read_lines_file(file.path()).expect_err("invalid UTF-8");
        assert!(
            matches!(err, RougeError::InvalidUtf8 { line: 3, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{}:3", file.path().display())),
            "{msg}"
        );
    }

    #[test]
    fn read_lines_reports_missing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.txt");
        let err = read_lines_file(&missing).expect_err("missing");
        assert!(err.to_string().contains("nope.txt"), "{err}");
    }
}
