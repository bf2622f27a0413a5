//! Near duplicates between streamed files: rows are sketched as they go by (band keys only),
//! and after the candidates are known the files are read once more for the texts of the
//! candidate rows alone, so a file larger than memory can be checked.

use std::collections::HashMap;
use std::path::PathBuf;

use super::near_dup::{NearDupIndex, NearDuplicates, RowRef, BATCH};
use super::{DataError, LoadOptions, Record, RecordReader};

/// The group of training-side rows (e.g. the train split, or the inspected file).
pub const SIDE_A: u32 = 0;
/// The group of evaluation-side rows (e.g. the eval splits, or the `--against` file).
pub const SIDE_B: u32 = 1;

/// Where a sketched row came from.
struct RowMeta {
    file: u32,
    ordinal: usize,
    row: usize,
    line: Option<usize>,
    id: String,
}

/// Sketches records of one or more files into groups, then reports near-duplicate pairs.
pub struct FileNearDups {
    index: NearDupIndex,
    files: Vec<(PathBuf, LoadOptions)>,
    pending: Vec<(u32, String)>,
    meta: Vec<RowMeta>,
    ordinals: Vec<usize>,
}

impl FileNearDups {
    /// A checker at `threshold` (checked).
    pub fn new(threshold: f64) -> Result<Self, DataError> {
        Ok(Self {
            index: NearDupIndex::new(threshold)?,
            files: Vec::new(),
            pending: Vec::new(),
            meta: Vec::new(),
            ordinals: Vec::new(),
        })
    }

    /// Registers a file, read again with `options` for the candidates' texts; returns its
    /// number for [`FileNearDups::push`].
    pub fn file(&mut self, path: PathBuf, options: LoadOptions) -> u32 {
        self.files.push((path, options));
        self.ordinals.push(0);
        self.files.len() as u32 - 1
    }

    /// Adds the next record of `file` (records must come in file order) to `group`
    /// ([`SIDE_A`] or [`SIDE_B`]; any other group is sketched but never compared).
    pub fn push(&mut self, file: u32, group: u32, record: &Record) {
        let ordinal = &mut self.ordinals[file as usize];
        self.meta.push(RowMeta {
            file,
            ordinal: *ordinal,
            row: record.location.row,
            line: record.location.line,
            id: record.id.clone(),
        });
        *ordinal += 1;
        self.pending.push((group, record.input_text().to_string()));
        if self.pending.len() >= BATCH {
            self.flush();
        }
    }

    /// Streams every record of `file` into `group`.
    pub fn push_file(&mut self, file: u32, group: u32) -> Result<(), DataError> {
        let (path, options) = self.files[file as usize].clone();
        for record in RecordReader::open(&path, &options)? {
            self.push(file, group, &record?);
        }
        Ok(())
    }

    fn flush(&mut self) {
        self.index.add(&self.pending);
        self.pending.clear();
    }

    /// Pairs of a [`SIDE_A`] row and a [`SIDE_B`] row with exact Jaccard at or above the
    /// threshold; `compared` says what was compared. Re-reads the files for the candidates.
    pub fn finish(mut self, compared: String) -> Result<NearDuplicates, DataError> {
        self.flush();
        let candidates = self.index.candidates(&|a, b| a == SIDE_A && b == SIDE_B);
        let mut wanted: Vec<HashMap<usize, usize>> = vec![HashMap::new(); self.files.len()];
        for doc in NearDupIndex::involved(&candidates) {
            let meta = &self.meta[doc];
            wanted[meta.file as usize].insert(meta.ordinal, doc);
        }
        let mut texts = HashMap::new();
        for (file, wanted) in wanted.iter().enumerate() {
            if wanted.is_empty() {
                continue;
            }
            let (path, options) = &self.files[file];
            let mut left = wanted.len();
            for (ordinal, record) in RecordReader::open(path, options)?.enumerate() {
                if let Some(&doc) = wanted.get(&ordinal) {
                    texts.insert(doc, record?.input_text().to_string());
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
        let found = self.index.verify(&candidates, &texts);
        let count = |side: u32| {
            (0..self.index.len())
                .filter(|&i| self.index.group(i) == side)
                .count()
        };
        let counts = (count(SIDE_A), count(SIDE_B));
        let row_of = |doc: usize| {
            let meta = &self.meta[doc];
            RowRef {
                task: None,
                file: self.files[meta.file as usize].0.clone(),
                id: meta.id.clone(),
                row: meta.row,
                line: meta.line,
            }
        };
        Ok(NearDuplicates::new(
            compared,
            &self.index,
            counts,
            candidates.len(),
            &found,
            &row_of,
        ))
    }
}
