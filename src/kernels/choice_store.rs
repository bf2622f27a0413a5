//! The measured choices of which kernel takes a matrix product (`product_choice`): the rule
//! that picks one from its timings, and the file that keeps them between runs, beside the
//! kernel cache (`product-choices.json`). No GPU here, so the CPU build's tests check it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Burn's matmul, the candidate every choice is measured against.
pub const BURN: &str = "burn";

/// How much faster than Burn's matmul one of ours must measure to take a product: within
/// this, Burn's keeps it (its products fuse with neighbouring element-wise ops, ours do not,
/// and timings of a few milliseconds differ by a few percent from run to run).
pub const MARGIN: f64 = 0.95;

/// One measured choice: who takes the product, every candidate's seconds per product, and
/// the sizes `[m, k, n]` it was measured at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`BURN`] or the name of one of our kernels.
    pub chosen: String,
    /// Seconds per product, by candidate.
    pub seconds: BTreeMap<String, f64>,
    /// The product's sizes when measured (its key holds their size class).
    pub measured: [usize; 3],
}

/// The candidate that takes a product from its `seconds` per product: the fastest of ours
/// when it beats [`BURN`]'s time by [`MARGIN`], else Burn's (also when Burn's was not
/// measured, or nothing was).
pub fn decide(seconds: &BTreeMap<String, f64>) -> String {
    let burn = seconds.get(BURN).copied();
    let fastest_ours = seconds
        .iter()
        .filter(|(name, time)| name.as_str() != BURN && time.is_finite() && **time > 0.0)
        .min_by(|a, b| a.1.total_cmp(b.1));
    match (burn, fastest_ours) {
        (Some(burn), Some((name, ours))) if *ours < burn * MARGIN => name.clone(),
        _ => BURN.to_string(),
    }
}

/// A product's size class: each of `[m, k, n]` rounded up to a power of two, so that the
/// length buckets of one run (and of the next) share their measurements.
pub fn size_class(dims: [usize; 3]) -> [usize; 3] {
    dims.map(|size| size.max(1).next_power_of_two())
}

/// The key of a choice: the adapter, the candidates (names with their shaders' hashes, so a
/// changed kernel is measured again), the size class and the operands' layouts.
pub fn key(adapter: &str, candidates: &str, dims: [usize; 3], row_major: [bool; 2]) -> String {
    let [m, k, n] = size_class(dims);
    let layout = |row_major: bool| if row_major { 'r' } else { 'c' };
    format!(
        "{adapter} | {candidates} | {m}x{k}x{n} | {}{}",
        layout(row_major[0]),
        layout(row_major[1])
    )
}

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    version: u32,
    choices: BTreeMap<String, Record>,
}

/// The file's format version: another one is read as empty (its products are measured again).
const VERSION: u32 = 1;

/// The choices of this process, and the file they are kept in (none: this process only).
#[derive(Debug, Default)]
pub struct ChoiceStore {
    path: Option<PathBuf>,
    choices: BTreeMap<String, Record>,
}

impl ChoiceStore {
    /// The choices kept at `path` (none: in memory only). A file that cannot be read or
    /// parsed is left as it is and its choices are measured again, with the reason on
    /// stderr; it is replaced at the next choice.
    pub fn open(path: Option<PathBuf>) -> Self {
        let choices = path
            .as_deref()
            .map(|path| match read(path) {
                Ok(choices) => choices,
                Err(reason) => {
                    eprintln!(
                        "{}: {reason}; matrix-product kernels are measured again",
                        path.display()
                    );
                    BTreeMap::new()
                }
            })
            .unwrap_or_default();
        Self { path, choices }
    }

    /// The choice recorded under `key`.
    pub fn get(&self, key: &str) -> Option<&Record> {
        self.choices.get(key)
    }

    /// Every choice, by key.
    pub fn all(&self) -> &BTreeMap<String, Record> {
        &self.choices
    }

    /// Records `record` under `key`, and writes the file (atomically, merged with what
    /// another process wrote there meanwhile). A file that cannot be written costs only its
    /// keeping: the reason goes to stderr.
    pub fn insert(&mut self, key: String, record: Record) {
        self.choices.insert(key, record);
        let Some(path) = &self.path else {
            return;
        };
        let mut merged = read(path).unwrap_or_default();
        merged.extend(self.choices.clone());
        let contents = Contents {
            version: VERSION,
            choices: merged,
        };
        let written = serde_json::to_vec_pretty(&contents)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                crate::fsutil::write_atomic(path, &bytes).map_err(|e| e.to_string())
            });
        if let Err(reason) = written {
            eprintln!("{}: not written ({reason})", path.display());
        }
    }
}

/// The choices in the file at `path` (none when it does not exist or is of another version).
fn read(path: &Path) -> Result<BTreeMap<String, Record>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.to_string()),
    };
    let contents: Contents = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(if contents.version == VERSION {
        contents.choices
    } else {
        BTreeMap::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(n, t)| (n.to_string(), *t)).collect()
    }

    #[test]
    fn ours_takes_a_product_only_when_clearly_faster() {
        assert_eq!(
            decide(&times(&[(BURN, 1.0), ("tiled-f32", 0.5)])),
            "tiled-f32"
        );
        // Within the margin, and slower: Burn's.
        assert_eq!(decide(&times(&[(BURN, 1.0), ("tiled-f32", 0.97)])), BURN);
        assert_eq!(decide(&times(&[(BURN, 1.0), ("tiled-f32", 1.5)])), BURN);
        // The fastest of ours.
        let three = times(&[(BURN, 1.0), ("coop", 0.4), ("coop-staged", 0.3)]);
        assert_eq!(decide(&three), "coop-staged");
        // A failed or missing measurement never wins.
        assert_eq!(decide(&times(&[(BURN, 1.0), ("coop", f64::NAN)])), BURN);
        assert_eq!(decide(&times(&[(BURN, 1.0), ("coop", 0.0)])), BURN);
        assert_eq!(decide(&times(&[("coop", 0.1)])), BURN);
    }

    #[test]
    fn keys_share_a_size_class_and_tell_layouts_apart() {
        let key_of = |dims, layout| key("GPU", "tiled-f32@1", dims, layout);
        assert_eq!(
            key_of([4096, 512, 1536], [true, true]),
            key_of([3000, 512, 1100], [true, true])
        );
        assert_ne!(
            key_of([4096, 512, 1536], [true, true]),
            key_of([4097, 512, 1536], [true, true])
        );
        assert_ne!(
            key_of([4096, 512, 1536], [true, true]),
            key_of([4096, 512, 1536], [true, false])
        );
        assert_eq!(
            key_of([4096, 512, 1536], [false, true]),
            "GPU | tiled-f32@1 | 4096x512x2048 | cr"
        );
    }

    fn record(chosen: &str) -> Record {
        Record {
            chosen: chosen.into(),
            seconds: times(&[(BURN, 2e-3), ("tiled-f32", 1e-3)]),
            measured: [4096, 512, 1536],
        }
    }

    #[test]
    fn choices_are_kept_across_processes_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels").join("product-choices.json");
        let mut first = ChoiceStore::open(Some(path.clone()));
        assert!(first.all().is_empty());
        first.insert("a".into(), record("tiled-f32"));
        // A second process, meanwhile, records another choice; the first one's next choice
        // keeps both.
        let mut second = ChoiceStore::open(Some(path.clone()));
        assert_eq!(second.get("a"), Some(&record("tiled-f32")));
        second.insert("b".into(), record(BURN));
        first.insert("c".into(), record(BURN));
        let reopened = ChoiceStore::open(Some(path));
        let keys: Vec<&str> = reopened.all().keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(reopened.get("b").unwrap().chosen, BURN);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_measured_again_and_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("product-choices.json");
        std::fs::write(&path, b"{\"version\": 1, \"choices\": {\"a\": ").unwrap();
        let mut store = ChoiceStore::open(Some(path.clone()));
        assert!(store.all().is_empty());
        store.insert("b".into(), record(BURN));
        assert_eq!(ChoiceStore::open(Some(path.clone())).all().len(), 1);
        // Another version's file reads as empty.
        std::fs::write(&path, b"{\"version\": 99, \"choices\": {}}").unwrap();
        assert!(ChoiceStore::open(Some(path)).all().is_empty());
        // In memory only: nothing is written.
        let mut memory = ChoiceStore::open(None);
        memory.insert("a".into(), record(BURN));
        assert_eq!(memory.all().len(), 1);
    }
}
