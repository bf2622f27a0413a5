//! Longest common subsequence helpers for ROUGE-L and ROUGE-Lsum, ported from
//! `rouge_score/rouge_scorer.py` (`_lcs_table`, `_backtrack_norec`,
//! `_summary_level_lcs`), including its tie-breaking when reading out an LCS,
//! which decides the union LCS of ROUGE-Lsum.

use std::collections::HashMap;
use std::hash::Hash;

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
///
/// rouge-score backtracks through the whole `(n + 1) × (m + 1)` table, 80 GB for two
/// 100k-word lines. Here only every k-th row is kept (k ≈ √n) and each block of k rows is
/// recomputed once, when the backtrack reaches it: the same path in O(√n · m) memory for
/// about twice the table's time. (Hirschberg's linear-space LCS would find *an* LCS, not
/// this one, and ROUGE-Lsum's union depends on which.)
pub fn lcs_indices<T: PartialEq>(reference: &[T], candidate: &[T]) -> Vec<usize> {
    let (n, m) = (reference.len(), candidate.len());
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let k = (n as f64).sqrt().ceil() as usize;
    let cols = m + 1;
    // checkpoints[c] is row c·k of the table.
    let mut checkpoints: Vec<Vec<u32>> = vec![vec![0; cols]];
    let mut above = vec![0u32; cols];
    let mut row = vec![0u32; cols];
    for (i, x) in reference.iter().enumerate() {
        fill_row(x, candidate, &above, &mut row);
        std::mem::swap(&mut above, &mut row);
        if (i + 1) % k == 0 {
            checkpoints.push(above.clone());
        }
    }
    drop((above, row));
    let (mut i, mut j) = (n, m);
    let mut block = vec![0u32; (k + 1) * cols];
    let mut indices = Vec::new();
    while i > 0 && j > 0 {
        // Rows base..=i of the table, columns 0..=j (the backtrack never moves right).
        let base = (i - 1) / k * k;
        let width = j + 1;
        block[..width].copy_from_slice(&checkpoints[base / k][..width]);
        for r in base + 1..=i {
            let (done, rest) = block.split_at_mut((r - base) * cols);
            let above = &done[(r - base - 1) * cols..][..width];
            fill_row(
                &reference[r - 1],
                &candidate[..j],
                above,
                &mut rest[..width],
            );
        }
        let get = |r: usize, c: usize| block[(r - base) * cols + c];
        while i > base && j > 0 {
            if reference[i - 1] == candidate[j - 1] {
                indices.push(i - 1);
                i -= 1;
                j -= 1;
            } else if get(i, j - 1) > get(i - 1, j) {
                j -= 1;
            } else {
                i -= 1;
            }
        }
    }
    indices.reverse();
    indices
}

/// One row of the LCS table: `row[j + 1]` for `x` against `b[..=j]`, from the row `above`.
fn fill_row<T: PartialEq>(x: &T, b: &[T], above: &[u32], row: &mut [u32]) {
    row[0] = 0;
    for (j, y) in b.iter().enumerate() {
        row[j + 1] = if x == y {
            above[j] + 1
        } else {
            above[j + 1].max(row[j])
        };
    }
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

    /// rouge-score's backtrack over the whole table, as this module did before.
    fn lcs_indices_full_table<T: PartialEq>(reference: &[T], candidate: &[T]) -> Vec<usize> {
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

    #[test]
    fn blocked_backtrack_takes_the_full_tables_path() {
        // Small alphabets make many ties; lengths cross block edges (k = ⌈√n⌉).
        let mut state = 7u64;
        let mut next = |alphabet: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % alphabet
        };
        for n in [1, 2, 3, 4, 5, 9, 10, 16, 17, 30, 64, 101] {
            for m in [1, 3, 8, 25, 70] {
                for alphabet in [2, 3, 6] {
                    let a: Vec<u64> = (0..n).map(|_| next(alphabet)).collect();
                    let b: Vec<u64> = (0..m).map(|_| next(alphabet)).collect();
                    assert_eq!(
                        lcs_indices(&a, &b),
                        lcs_indices_full_table(&a, &b),
                        "{a:?} {b:?}"
                    );
                }
            }
        }
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
