//! Longest common subsequence helpers for ROUGE-L and ROUGE-Lsum, ported from
//! `rouge_score/rouge_scorer.py` (`_lcs_table`, `_backtrack_norec`,
//! `_summary_level_lcs`), including its tie-breaking when reading out an LCS,
//! which decides the union LCS of ROUGE-Lsum.

use std::collections::HashMap;
use std::hash::Hash;

/// Dynamic-programming LCS table with `(a.len() + 1) * (b.len() + 1)` cells.
struct Table {
    cols: usize,
    cells: Vec<usize>,
}

impl Table {
    fn new<T: PartialEq>(a: &[T], b: &[T]) -> Self {
        let cols = b.len() + 1;
        let mut cells = vec![0; (a.len() + 1) * cols];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * cols + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * cols + j - 1] + 1
                } else {
                    cells[(i - 1) * cols + j].max(cells[i * cols + j - 1])
                };
            }
        }
        Table { cols, cells }
    }

    fn get(&self, i: usize, j: usize) -> usize {
        self.cells[i * self.cols + j]
    }
}

/// Length of the longest common subsequence of `a` and `b`.
pub fn lcs_len<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    // Two rolling rows: same recurrence as the full table, less memory.
    let mut prev = vec![0; b.len() + 1];
    let mut row = vec![0; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(row[j])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// Indices into `reference` of one LCS with `candidate`, ascending, chosen as
/// rouge-score's `lcs_ind` chooses it (backtracking prefers moving up in
/// `reference` unless moving left in `candidate` keeps a strictly longer LCS).
pub fn lcs_indices<T: PartialEq>(reference: &[T], candidate: &[T]) -> Vec<usize> {
    let table = Table::new(reference, candidate);
    let (mut i, mut j) = (reference.len(), candidate.len());
    let mut indices = Vec::new();
    while i > 0 && j > 0 {
        if reference[i - 1] == candidate[j - 1] {
            indices.push(i - 1);
            i -= 1;
            j -= 1;
        } else if table.get(i, j - 1) > table.get(i - 1, j) {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    indices.reverse();
    indices
}

/// Summary-level LCS hits of ROUGE-Lsum: for each reference sentence, the
/// tokens of its union LCS with all candidate sentences, each token counted at
/// most as often as it occurs in both summaries (as ROUGE 1.5.5 does).
pub fn union_lcs_hits<T: Eq + Hash>(reference: &[Vec<T>], candidate: &[Vec<T>]) -> usize {
    let mut ref_counts: HashMap<&T, usize> = HashMap::new();
    let mut cand_counts: HashMap<&T, usize> = HashMap::new();
    for token in reference.iter().flatten() {
        *ref_counts.entry(token).or_insert(0) += 1;
    }
    for token in candidate.iter().flatten() {
        *cand_counts.entry(token).or_insert(0) += 1;
    }
    let mut hits = 0;
    for sentence in reference {
        let mut union: Vec<usize> = candidate
            .iter()
            .flat_map(|c| lcs_indices(sentence, c))
            .collect();
        union.sort_unstable();
        union.dedup();
        for token in union.into_iter().map(|i| &sentence[i]) {
            let (Some(r), Some(c)) = (ref_counts.get_mut(token), cand_counts.get_mut(token)) else {
                continue;
            };
            if *r > 0 && *c > 0 {
                hits += 1;
                *r -= 1;
                *c -= 1;
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn lcs_len_edge_cases() {
        let empty: Vec<&str> = Vec::new();
        assert_eq!(lcs_len(&empty, &empty), 0);
        assert_eq!(lcs_len(&words("a b"), &empty), 0);
        assert_eq!(lcs_len(&empty, &words("a b")), 0);
        assert_eq!(lcs_len(&words("a b c"), &words("a b c")), 3);
        assert_eq!(lcs_len(&words("a b c"), &words("d e f")), 0);
        assert_eq!(lcs_len(&words("a b c d"), &words("d c b a")), 1);
        assert_eq!(lcs_len(&words("a a a"), &words("a")), 1);
        assert_eq!(lcs_len(&words("a b c b d a b"), &words("b d c a b a")), 4);
    }

    #[test]
    fn lcs_len_agrees_with_full_table() {
        let a = words("x y x z y x y z z x");
        let b = words("y x z x y y z x");
        assert_eq!(lcs_len(&a, &b), Table::new(&a, &b).get(a.len(), b.len()));
        assert_eq!(lcs_indices(&a, &b).len(), lcs_len(&a, &b));
    }

    #[test]
    fn lcs_indices_follow_rouge_score_tie_breaking() {
        // Candidate "b a" against "a b": both [0] ("a") and [1] ("b") are LCSs;
        // rouge-score moves up in the reference on ties, so it picks "a".
        // Expected values are rouge_score.rouge_scorer.lcs_ind's outputs.
        assert_eq!(lcs_indices(&words("a b"), &words("b a")), [0]);
        assert_eq!(lcs_indices(&words("a b c"), &words("a c")), [0, 2]);
        assert_eq!(lcs_indices(&words("a a"), &words("a")), [1]);
    }

    #[test]
    fn union_lcs_example_from_the_rouge_paper() {
        // Lin (2004), section 3.2: r = w1 w2 w3 w4 w5, c1 = w1 w2 w6 w7 w8,
        // c2 = w1 w3 w8 w9 w5: union LCS is w1 w2 w3 w5, so 4 hits.
        let reference = vec![words("w1 w2 w3 w4 w5")];
        let candidate = vec![words("w1 w2 w6 w7 w8"), words("w1 w3 w8 w9 w5")];
        assert_eq!(union_lcs_hits(&reference, &candidate), 4);
    }

    #[test]
    fn union_lcs_hits_are_clipped_by_token_counts() {
        // The candidate has one "a"; two reference sentences both match it.
        let reference = vec![words("a"), words("a")];
        let candidate = vec![words("a")];
        assert_eq!(union_lcs_hits(&reference, &candidate), 1);
        let empty: Vec<Vec<&str>> = Vec::new();
        assert_eq!(union_lcs_hits(&reference, &empty), 0);
    }
}
