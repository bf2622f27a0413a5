//! Near duplicates between datasets (training rows that are almost an evaluation row):
//! MinHash signatures over word shingles, LSH banding to find candidate pairs, then the exact
//! Jaccard of every candidate, so what is reported is exact and the same on every run.
//!
//! Hand-written rather than a crate: `gaoya` (the LSH crate on crates.io) pulls in `rand`
//! 0.10, an alpha `smallvec`, `sha-1` and a dozen more crates, and `probminhash` brings
//! `argmin` and logging; the whole method here is ~300 lines over the hashes `split.rs`
//! already has.
//!
//! Text is lower-cased and cut into words (runs of letters and digits); a shingle is
//! [`SHINGLE_WORDS`] consecutive words (a shorter text is one shingle of all its words). The
//! Jaccard of two texts is |A ∩ B| / |A ∪ B| over their shingle sets.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::split::{hash_str, splitmix64};
use super::DataError;

/// The Jaccard at and above which two texts are near duplicates, unless told otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.8;
/// Words per shingle.
pub const SHINGLE_WORDS: usize = 5;
/// MinHash functions per text.
pub const NUM_HASHES: usize = 128;
/// Pairs listed in a report (the count covers all of them).
pub const MAX_LISTED_PAIRS: usize = 50;
/// Texts sketched per parallel batch when streaming.
pub const BATCH: usize = 4096;
/// The most a pair at the threshold may be missed by the banding.
const MISS_PROBABILITY: f64 = 1e-6;

/// The `(a, b)` constants of the MinHash functions `h_i(x) = a_i·x + b_i (mod 2^64)`, `a_i`
/// odd (so each is a permutation of the 64-bit shingle hashes), drawn by SplitMix64 from a
/// fixed seed: the same on every run and platform.
static HASH_FUNCTIONS: std::sync::LazyLock<[(u64, u64); NUM_HASHES]> =
    std::sync::LazyLock::new(|| {
        let mut state = 0x6E65_6172_2D64_7570; // "near-dup"
        std::array::from_fn(|_| {
            state = splitmix64(state);
            let a = state | 1;
            state = splitmix64(state);
            (a, state)
        })
    });

/// How the signature is cut into bands: two texts become a candidate pair when all `rows`
/// values of any band agree, which for Jaccard `s` happens with probability
/// `1 - (1 - s^rows)^bands`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Banding {
    /// Number of bands.
    pub bands: usize,
    /// Signature values per band.
    pub rows: usize,
}

impl Banding {
    /// The widest bands (fewest false candidates) that still find a pair at `threshold`
    /// with probability at least 1 - 1e-6: 32 bands of 4 at 0.8 (a miss: ~5e-8), 64 of 2
    /// at 0.5.
    pub fn for_threshold(threshold: f64) -> Self {
        [16, 8, 4, 2]
            .into_iter()
            .map(|rows| Banding {
                bands: NUM_HASHES / rows,
                rows,
            })
            .find(|banding| banding.miss_probability(threshold) <= MISS_PROBABILITY)
            .unwrap_or(Banding {
                bands: NUM_HASHES,
                rows: 1,
            })
    }

    /// Probability that a pair of Jaccard `similarity` shares no band.
    pub fn miss_probability(&self, similarity: f64) -> f64 {
        (1.0 - similarity.powi(self.rows as i32)).powi(self.bands as i32)
    }
}

/// Checks a threshold given by the user: above 0 and at most 1.
pub fn check_threshold(threshold: f64) -> Result<f64, DataError> {
    if threshold > 0.0 && threshold <= 1.0 {
        Ok(threshold)
    } else {
        Err(DataError::NearDupThreshold { value: threshold })
    }
}

/// Lower-cased words of `text`: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The shingle set of `text`, sorted: [`SHINGLE_WORDS`] consecutive words joined by a space
/// (all the words when there are fewer).
pub fn shingles(text: &str) -> Vec<String> {
    let words = words(text);
    if words.is_empty() {
        return Vec::new();
    }
    let width = SHINGLE_WORDS.min(words.len());
    let mut shingles: Vec<String> = words.windows(width).map(|w| w.join(" ")).collect();
    shingles.sort_unstable();
    shingles.dedup();
    shingles
}

/// Exact Jaccard of two sorted shingle sets (0 when both are empty).
pub fn jaccard_of_sets(a: &[String], b: &[String]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

/// Exact Jaccard of two texts' shingle sets.
pub fn jaccard(a: &str, b: &str) -> f64 {
    jaccard_of_sets(&shingles(a), &shingles(b))
}

/// 64-bit hashes of the shingles of `text` (with repeats; MinHash does not mind).
/// std's SipHash of `text`: a second hash, independent of [`hash_str`]'s FNV.
fn sip_hash(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn shingle_hashes(text: &str) -> Vec<u64> {
    let mut word_hashes = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, hashes: &mut Vec<u64>| {
        if !word.is_empty() {
            hashes.push(hash_str(word));
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut word_hashes);
        }
    }
    flush(&mut word, &mut word_hashes);
    if word_hashes.is_empty() {
        return Vec::new();
    }
    let width = SHINGLE_WORDS.min(word_hashes.len());
    word_hashes
        .windows(width)
        .map(|window| {
            window
                .iter()
                .fold(0x5348_494E_474C_4553, |state, &w| splitmix64(state ^ w))
        })
        .collect()
}

/// The MinHash signature of a set of shingle hashes: per function, the smallest image.
fn signature(hashes: &[u64]) -> [u64; NUM_HASHES] {
    let functions = &*HASH_FUNCTIONS;
    let mut mins = [u64::MAX; NUM_HASHES];
    for &x in hashes {
        for (min, &(a, b)) in mins.iter_mut().zip(functions) {
            *min = (*min).min(a.wrapping_mul(x).wrapping_add(b));
        }
    }
    mins
}

/// One key per band (32 bits of a hash of its values and its index), or `None` for a text
/// without words, which is never a near duplicate.
fn band_keys(text: &str, banding: Banding) -> Option<Vec<u32>> {
    let hashes = shingle_hashes(text);
    if hashes.is_empty() {
        return None;
    }
    let signature = signature(&hashes);
    Some(
        signature
            .chunks(banding.rows)
            .enumerate()
            .map(|(band, values)| {
                let key = values
                    .iter()
                    .fold(band as u64, |state, &v| splitmix64(state ^ v));
                (key >> 32) as u32
            })
            .collect(),
    )
}

/// Texts added in groups (e.g. train rows, eval rows), sketched as their band keys only, so
/// 100k rows take ~13 MB; [`NearDupIndex::candidates`] pairs texts of groups that are to be
/// compared.
///
/// A text repeated within a group is sketched once: its copies join the first one
/// ([`NearDupIndex::copies`]) and never enter the buckets, so candidates are pairs of
/// distinct texts and the work follows the distinct rows. (Without this, a file whose 100k
/// rows repeat a few hundred texts made buckets of thousands and 10^7 candidate pairs.)
pub struct NearDupIndex {
    threshold: f64,
    banding: Banding,
    /// `bands` keys per text, flat; a text without words, or a repeat, has none and
    /// `has_keys` false.
    keys: Vec<u32>,
    has_keys: Vec<bool>,
    groups: Vec<u32>,
    /// For each text, how many texts of its group have its content when it is the first of
    /// them; 0 for a repeat.
    copies: Vec<u32>,
    /// For each text, the first text of its group with its content (itself when first).
    first: Vec<u32>,
    /// The first text of each (group, content), by two independent 64-bit hashes of the text
    /// (a false match is 2^-128-unlikely).
    firsts: HashMap<(u32, u64, u64), u32>,
}

impl NearDupIndex {
    /// An empty index for pairs at or above `threshold` (checked: above 0, at most 1).
    pub fn new(threshold: f64) -> Result<Self, DataError> {
        let threshold = check_threshold(threshold)?;
        Ok(Self {
            threshold,
            banding: Banding::for_threshold(threshold),
            keys: Vec::new(),
            has_keys: Vec::new(),
            groups: Vec::new(),
            copies: Vec::new(),
            first: Vec::new(),
            firsts: HashMap::new(),
        })
    }

    /// The threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The banding used.
    pub fn banding(&self) -> Banding {
        self.banding
    }

    /// Texts added so far.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no text was added.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Sketches `(group, text)` items (in parallel; a repeat of an earlier text of its group
    /// is only counted); returns their indices.
    pub fn add<S: AsRef<str> + Sync>(&mut self, items: &[(u32, S)]) -> Range<usize> {
        let start = self.len();
        let banding = self.banding;
        // First occurrences (sketched) and repeats (counted on their first).
        let mut first_of: Vec<Option<u32>> = Vec::with_capacity(items.len());
        for (offset, (group, text)) in items.iter().enumerate() {
            let text = text.as_ref();
            let key = (*group, hash_str(text), sip_hash(text));
            let index = (start + offset) as u32;
            let first = *self.firsts.entry(key).or_insert(index);
            first_of.push((first != index).then_some(first));
        }
        let sketches: Vec<Option<Vec<u32>>> = items
            .par_iter()
            .zip(&first_of)
            .map(|((_, text), first)| match first {
                None => band_keys(text.as_ref(), banding),
                Some(_) => None,
            })
            .collect();
        for ((sketch, &(group, _)), first) in sketches.into_iter().zip(items).zip(first_of) {
            match sketch {
                Some(keys) => {
                    self.keys.extend_from_slice(&keys);
                    self.has_keys.push(true);
                }
                None => {
                    self.keys.extend(std::iter::repeat_n(0, banding.bands));
                    self.has_keys.push(false);
                }
            }
            self.groups.push(group);
            match first {
                None => {
                    self.first.push(self.copies.len() as u32);
                    self.copies.push(1);
                }
                Some(first) => {
                    self.first.push(first);
                    self.copies.push(0);
                    self.copies[first as usize] += 1;
                }
            }
        }
        start..self.len()
    }

    /// The texts with first text `index`'s content (itself first), ascending; a scan of the
    /// index, for the few pairs a report lists.
    pub fn copies_of(&self, index: usize) -> Vec<usize> {
        if self.copies(index) == 1 {
            return vec![index];
        }
        (index..self.len())
            .filter(|&i| self.first[i] as usize == index)
            .collect()
    }

    /// How many texts of its group have text `index`'s content, when it is the first of
    /// them (1 for a text that is not repeated); 0 for a repeat.
    pub fn copies(&self, index: usize) -> usize {
        self.copies[index] as usize
    }

    /// The group of text `index`.
    pub fn group(&self, index: usize) -> u32 {
        self.groups[index]
    }

    /// Candidate pairs `(a, b)`, sorted and distinct: texts sharing a band, where
    /// `compare(group of a, group of b)` is true (a pair is tried both ways round).
    pub fn candidates(&self, compare: &(dyn Fn(u32, u32) -> bool + Sync)) -> Vec<(usize, usize)> {
        let bands = self.banding.bands;
        let mut pairs: Vec<(u32, u32)> = (0..bands)
            .into_par_iter()
            .flat_map_iter(|band| {
                let mut bucket: Vec<(u32, u32)> = (0..self.len())
                    .filter(|&i| self.has_keys[i])
                    .map(|i| (self.keys[i * bands + band], i as u32))
                    .collect();
                bucket.sort_unstable();
                let mut found = Vec::new();
                for run in bucket.chunk_by(|x, y| x.0 == y.0) {
                    for (n, &(_, x)) in run.iter().enumerate() {
                        for &(_, y) in &run[n + 1..] {
                            let (gx, gy) = (self.groups[x as usize], self.groups[y as usize]);
                            if compare(gx, gy) {
                                found.push((x, y));
                            }
                            if compare(gy, gx) {
                                found.push((y, x));
                            }
                        }
                    }
                }
                found
            })
            .collect();
        pairs.par_sort_unstable();
        pairs.dedup();
        pairs
            .into_iter()
            .map(|(a, b)| (a as usize, b as usize))
            .collect()
    }

    /// Every index that appears in `pairs`, sorted.
    pub fn involved(pairs: &[(usize, usize)]) -> Vec<usize> {
        let mut involved: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        involved.sort_unstable();
        involved.dedup();
        involved
    }

    /// The exact Jaccard of each candidate, keeping those at or above the threshold.
    /// `texts` holds (at least) every text named in `candidates`; a missing one is skipped.
    pub fn verify(
        &self,
        candidates: &[(usize, usize)],
        texts: &HashMap<usize, String>,
    ) -> Vec<(usize, usize, f64)> {
        let involved: HashSet<usize> = candidates.iter().flat_map(|&(a, b)| [a, b]).collect();
        let sets: HashMap<usize, Vec<String>> = involved
            .into_par_iter()
            .filter_map(|i| texts.get(&i).map(|text| (i, shingles(text))))
            .collect();
        candidates
            .par_iter()
            .filter_map(|&(a, b)| {
                let similarity = jaccard_of_sets(sets.get(&a)?, sets.get(&b)?);
                (similarity >= self.threshold).then_some((a, b, similarity))
            })
            .collect()
    }
}

/// One row named in a near-duplicate pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct RowRef {
    /// The mixture task it belongs to, when checking a mixture.
    pub task: Option<String>,
    /// Its file.
    pub file: PathBuf,
    /// Its id (the id column, or `<file stem>:<row>`).
    pub id: String,
    /// 1-based data row.
    pub row: usize,
    /// 1-based line, for text formats.
    pub line: Option<usize>,
}

impl RowRef {
    /// `file:line` (or `file row N`), the id, and the task in brackets.
    pub fn label(&self) -> String {
        let place = match self.line {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => format!("{} row {}", self.file.display(), self.row),
        };
        match &self.task {
            Some(task) => format!("[{task}] {place} {}", self.id),
            None => format!("{place} {}", self.id),
        }
    }
}

/// Two rows whose texts have Jaccard `jaccard` ≥ the threshold: `a` on the training side,
/// `b` on the evaluation side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct NearDupPair {
    pub a: RowRef,
    pub b: RowRef,
    /// Exact Jaccard of the two shingle sets.
    pub jaccard: f64,
}

/// What the near-duplicate check found: settings, counts and the closest pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct NearDuplicates {
    /// What was compared with what, e.g. `train split ~ validation/test splits`.
    pub compared: String,
    /// Pairs with Jaccard at or above this are reported.
    pub threshold: f64,
    /// Words per shingle.
    pub shingle_words: usize,
    /// MinHash functions per text.
    pub num_hashes: usize,
    /// How the signatures were banded for candidates.
    pub banding: Banding,
    /// Rows on the `a` side and on the `b` side.
    pub rows_a: usize,
    pub rows_b: usize,
    /// Candidate pairs whose exact Jaccard was computed (between distinct texts).
    pub candidates: usize,
    /// Pairs of rows at or above the threshold (a text repeated in several rows counts once
    /// per row).
    pub pairs_found: usize,
    /// Distinct `b` rows (evaluation side) with at least one near duplicate.
    pub rows_b_affected: usize,
    /// The closest pairs (highest Jaccard first), at most 50.
    pub pairs: Vec<NearDupPair>,
}

impl NearDuplicates {
    /// The report for `found` pairs of `index`; `row_of` names a text by its index.
    pub fn new(
        compared: String,
        index: &NearDupIndex,
        counts: (usize, usize),
        candidates: usize,
        found: &[(usize, usize, f64)],
        row_of: &dyn Fn(usize) -> RowRef,
    ) -> Self {
        let mut sorted: Vec<&(usize, usize, f64)> = found.iter().collect();
        sorted.sort_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
        // A found pair of first texts stands for every pair of their copies.
        let affected: HashSet<usize> = found.iter().map(|&(_, b, _)| b).collect();
        let rows_b_affected = affected.iter().map(|&b| index.copies(b)).sum();
        let pairs_found = found
            .iter()
            .map(|&(a, b, _)| index.copies(a) * index.copies(b))
            .sum();
        Self {
            compared,
            threshold: index.threshold,
            shingle_words: SHINGLE_WORDS,
            num_hashes: NUM_HASHES,
            banding: index.banding,
            rows_a: counts.0,
            rows_b: counts.1,
            candidates,
            pairs_found,
            rows_b_affected,
            pairs: listed(index, &sorted, row_of),
        }
    }

    /// The human-readable lines: a heading with the threshold, then one line per pair.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "near duplicates ({}; Jaccard ≥ {:.2} over {}-word shingles): {} pairs, {} of {} rows",
            self.compared,
            self.threshold,
            self.shingle_words,
            self.pairs_found,
            self.rows_b_affected,
            self.rows_b
        );
        text.push('\n');
        for pair in &self.pairs {
            text.push_str(&format!(
                "  {:.3}  {}  ~  {}\n",
                pair.jaccard,
                pair.a.label(),
                pair.b.label()
            ));
        }
        if self.pairs_found > self.pairs.len() {
            text.push_str(&format!(
                "  ... and {} more\n",
                self.pairs_found - self.pairs.len()
            ));
        }
        text
    }
}

/// The first [`MAX_LISTED_PAIRS`] row pairs of `sorted` pairs of first texts, each
/// standing for every pair of their copies (a row is never listed against itself).
fn listed(
    index: &NearDupIndex,
    sorted: &[&(usize, usize, f64)],
    row_of: &dyn Fn(usize) -> RowRef,
) -> Vec<NearDupPair> {
    let mut pairs = Vec::new();
    for &&(a, b, jaccard) in sorted {
        for x in index.copies_of(a) {
            for y in index.copies_of(b) {
                if pairs.len() == MAX_LISTED_PAIRS {
                    return pairs;
                }
                let (a, b) = (row_of(x), row_of(y));
                if a.file != b.file || a.row != b.row {
                    pairs.push(NearDupPair { a, b, jaccard });
                }
            }
        }
    }
    pairs
}

/// Near duplicates between in-memory texts: `a` rows (training side) against `b` rows
/// (evaluation side), each a text and its row; pairs of the same row are skipped.
pub fn find_between(
    compared: String,
    threshold: f64,
    a: &[(&str, RowRef)],
    b: &[(&str, RowRef)],
) -> Result<NearDuplicates, DataError> {
    let mut index = NearDupIndex::new(threshold)?;
    let items: Vec<(u32, &str)> = a
        .iter()
        .map(|(text, _)| (0, *text))
        .chain(b.iter().map(|(text, _)| (1, *text)))
        .collect();
    index.add(&items);
    let row_of = |i: usize| {
        if i < a.len() {
            &a[i].1
        } else {
            &b[i - a.len()].1
        }
    };
    let candidates: Vec<(usize, usize)> = index
        .candidates(&|x, y| x == 0 && y == 1)
        .into_iter()
        .filter(|&(x, y)| {
            // A row against itself (a file on both sides). A repeated text stands for
            // other rows too, so its pair is kept.
            let single = index.copies(x) == 1 && index.copies(y) == 1;
            let (x, y) = (row_of(x), row_of(y));
            !(single && x.file == y.file && x.row == y.row)
        })
        .collect();
    let texts: HashMap<usize, String> = NearDupIndex::involved(&candidates)
        .into_iter()
        .map(|i| {
            let text = if i < a.len() {
                a[i].0
            } else {
                b[i - a.len()].0
            };
            (i, text.to_string())
        })
        .collect();
    let found = index.verify(&candidates, &texts);
    Ok(NearDuplicates::new(
        compared,
        &index,
        (a.len(), b.len()),
        candidates.len(),
        &found,
        &|i| row_of(i).clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(file: &str, row: usize) -> RowRef {
        RowRef {
            task: None,
            file: file.into(),
            id: format!("{file}-{row}"),
            row,
            line: Some(row),
        }
    }

    #[test]
    fn words_and_shingles_ignore_case_and_punctuation() {
        assert_eq!(words("#Person1#: Hi,  THERE!"), ["person1", "hi", "there"]);
        assert_eq!(shingles("a b c"), ["a b c"]);
        assert_eq!(shingles("a b c d e f"), ["a b c d e", "b c d e f"]);
        assert!(shingles(" ,; ").is_empty());
    }

    #[test]
    fn jaccard_counts_shared_shingles() {
        // 7 words: 3 shingles; one word changed at the end keeps 2 of them: 2 / 4.
        let a = "one two three four five six seven";
        let b = "one two three four five six eight";
        assert_eq!(jaccard(a, b), 0.5);
        assert_eq!(jaccard(a, &a.to_uppercase()), 1.0);
        assert_eq!(jaccard("", ""), 0.0);
    }

    #[test]
    fn banding_finds_pairs_at_the_threshold() {
        let banding = Banding::for_threshold(0.8);
        assert_eq!(banding, Banding { bands: 32, rows: 4 });
        assert!(banding.miss_probability(0.8) < 1e-7);
        assert!(Banding::for_threshold(0.5).miss_probability(0.5) <= MISS_PROBABILITY);
        assert_eq!(Banding::for_threshold(0.1).rows, 1);
        assert!(check_threshold(0.0).is_err());
        assert!(check_threshold(1.5).is_err());
        assert!(check_threshold(f64::NAN).is_err());
    }

    #[test]
    fn minhash_agreement_estimates_jaccard() {
        // Sets of 600 and 600 hashes sharing 400: Jaccard 400 / 800 = 0.5.
        let a: Vec<u64> = (0..600).map(splitmix64).collect();
        let b: Vec<u64> = (200..800).map(splitmix64).collect();
        let (sa, sb) = (signature(&a), signature(&b));
        let agree = sa.iter().zip(&sb).filter(|(x, y)| x == y).count();
        // 128 draws of p = 0.5: 4 standard deviations is ±23.
        assert!((41..=87).contains(&agree), "{agree} of 128 agree");
        assert_eq!(signature(&a), signature(&a));
    }

    #[test]
    fn finds_near_duplicates_and_not_unrelated_rows() {
        let base: Vec<String> = (0..60).map(|i| format!("word{i}")).collect();
        let text = base.join(" ");
        let mut edited = base.clone();
        edited[30] = "changed".into();
        let edited = edited.join(" ");
        let other: String = (0..60).map(|i| format!("other{i} ")).collect();
        let a = [
            (text.as_str(), row("train", 1)),
            (other.as_str(), row("train", 2)),
        ];
        let b = [(edited.as_str(), row("eval", 1)), ("", row("eval", 2))];
        let report = find_between("train ~ eval".into(), 0.8, &a, &b).unwrap();
        assert_eq!(report.pairs_found, 1);
        let pair = &report.pairs[0];
        assert_eq!((pair.a.row, pair.b.file.to_str()), (1, Some("eval")));
        assert_eq!(pair.jaccard, jaccard(&text, &edited));
        assert!(pair.jaccard < 1.0 && pair.jaccard >= 0.8);
        assert!(report.to_text().contains("Jaccard ≥ 0.80"));
    }

    #[test]
    fn repeated_texts_are_sketched_once_and_counted_per_row() {
        let base: Vec<String> = (0..80).map(|i| format!("word{i}")).collect();
        let text = base.join(" ");
        let mut edited = base.clone();
        edited[40] = "changed".into();
        let edited = edited.join(" ");
        // 300 train rows of one text, 200 eval rows of a near copy, one unrelated eval row.
        let a: Vec<(&str, RowRef)> = (0..300).map(|i| (text.as_str(), row("train", i))).collect();
        let mut b: Vec<(&str, RowRef)> = (0..200)
            .map(|i| (edited.as_str(), row("eval", i)))
            .collect();
        b.push(("something else entirely", row("eval", 200)));
        let report = find_between("train ~ eval".into(), 0.8, &a, &b).unwrap();
        assert_eq!(report.candidates, 1, "one pair of distinct texts");
        assert_eq!(report.pairs_found, 300 * 200);
        assert_eq!(report.rows_b_affected, 200);
        // The listing names rows: the first train row against the first eval rows.
        assert_eq!(report.pairs.len(), MAX_LISTED_PAIRS);
        assert_eq!((report.pairs[0].a.row, report.pairs[0].b.row), (0, 0));
        assert_eq!((report.pairs[1].a.row, report.pairs[1].b.row), (0, 1));
    }
}
