//! Dataset loading: JSONL, JSON, CSV/TSV and Parquet files are streamed row by row, mapped to
//! canonical fields by schema detection or an explicit column mapping, chat-normalised,
//! split into train / validation / test, and checked for common problems.

pub mod chat;
pub mod checks;
pub mod csv;
pub mod error;
pub mod format;
pub mod json;
pub mod jsonl;
pub mod lengths;
pub mod near_dup;
pub mod near_dup_files;
pub mod parquet;
pub mod report;
pub mod rows;
pub mod schema;
pub mod split;
pub mod tokenizer;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use rows::stream;

pub use chat::SpeakerStyle;
pub use checks::{CheckReport, Checker, Finding, LengthLimits};
pub use error::{DataError, Location};
pub use format::Format;
pub use schema::{ColumnMapping, Record, RecordMapper, Schema, SchemaKind, SplitAssignment};
pub use split::{Split, SplitSpec};
pub use tokenizer::TokenizerError;

/// One row as read from a file, before schema mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    /// 1-based data row number (header excluded).
    pub row: usize,
    /// 1-based line where the row starts, for text formats.
    pub line: Option<usize>,
    /// Column -> value.
    pub fields: Map<String, Value>,
}

/// A stream of raw rows from any supported format.
pub type RawRows = Box<dyn Iterator<Item = Result<RawRow, DataError>>>;

/// How to read a dataset: column mapping, speaker style and split assignment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Canonical field -> column, applied on top of detection.
    pub columns: ColumnMapping,
    /// How dialogue speakers are written.
    pub speakers: SpeakerStyle,
    /// Put every record in this split (e.g. a file that is all training data).
    pub split: Option<Split>,
    /// Fractions for the seeded split when there is no split column.
    pub split_spec: SplitSpec,
    /// Seed of the seeded split.
    pub seed: u64,
}

/// Opens `path` and streams its raw rows, with the column names found at the start.
pub fn open_rows(
    path: &Path,
    format: Option<Format>,
) -> Result<(Format, Vec<String>, RawRows), DataError> {
    check_is_file(path)?;
    let format = match format {
        Some(format) => format,
        None => format::detect(path)?,
    };
    let open = || -> Result<BufReader<File>, DataError> {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| DataError::io(path, source))
    };
    let (columns, mut rows): (Option<Vec<String>>, RawRows) = match format {
        Format::Jsonl => (None, stream(jsonl::JsonlRows::new(path, open()?))),
        Format::Json => (None, stream(json::JsonRows::new(path, open()?))),
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let rows = csv::CsvRows::new(path, open()?, delimiter)?;
            (Some(rows.headers().to_vec()), stream(rows))
        }
        Format::Parquet => {
            let rows = parquet::ParquetRows::open(path)?;
            (Some(rows.columns().to_vec()), stream(rows))
        }
    };
    // Column names of schemaless formats come from the first row, which is put back.
    let first = rows.next().transpose()?;
    let Some(first) = first else {
        return Err(DataError::Empty { path: path.into() });
    };
    let columns = columns.unwrap_or_else(|| first.fields.keys().cloned().collect());
    let rows: RawRows = Box::new(std::iter::once(Ok(first)).chain(rows));
    Ok((format, columns, rows))
}

/// Refuses what is not a regular file: a dataset is opened more than once (its format is
/// sniffed, its rows streamed, checked again for near duplicates), so a pipe (`<(cat f)`, a
/// FIFO) would read as empty or hang, and a device (`/dev/zero`) never ends.
fn check_is_file(path: &Path) -> Result<(), DataError> {
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(()); // Missing or unreadable: opening it gives the error.
    };
    let what = match metadata.file_type() {
        kind if kind.is_file() => return Ok(()),
        kind if kind.is_dir() => "a folder",
        #[cfg(unix)]
        kind if std::os::unix::fs::FileTypeExt::is_fifo(&kind) => "a pipe",
        #[cfg(unix)]
        kind if std::os::unix::fs::FileTypeExt::is_socket(&kind) => "a socket",
        _ => "a device",
    };
    Err(DataError::NotAFile {
        path: path.into(),
        what,
    })
}

/// A stream of mapped records from one file.
pub struct RecordReader {
    path: PathBuf,
    format: Format,
    columns: Vec<String>,
    mapper: RecordMapper,
    rows: RawRows,
    /// Text fields whose column held a number in the records read so far.
    numeric: std::collections::BTreeMap<String, checks::Finding>,
}

impl RecordReader {
    /// Opens `path`, detects format and schema, and prepares to stream records.
    pub fn open(path: &Path, options: &LoadOptions) -> Result<Self, DataError> {
        let (format, columns, rows) = open_rows(path, options.format)?;
        let schema = schema::detect(path, &columns, &options.columns)?;
        let split = match options.split {
            Some(split) => SplitAssignment::Fixed(split),
            None => SplitAssignment::Seeded {
                spec: options.split_spec,
                seed: options.seed,
            },
        };
        Ok(Self {
            path: path.into(),
            format,
            columns,
            mapper: RecordMapper::new(path, schema, options.speakers, split),
            rows,
            numeric: Default::default(),
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The detected (or forced) format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Column names of the file.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The detected schema.
    pub fn schema(&self) -> &Schema {
        self.mapper.schema()
    }

    /// Text fields whose column held numbers in the records read so far (used as their
    /// text, which hides a column mapped to the wrong field), for the checks.
    pub fn numeric_fields(&self) -> &std::collections::BTreeMap<String, checks::Finding> {
        &self.numeric
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.rows.next()?;
        Some(raw.and_then(|raw| {
            let numeric: Vec<String> = self
                .mapper
                .schema()
                .fields
                .iter()
                .filter(|(field, column)| {
                    field.as_str() != schema::DIALOGUE
                        && raw
                            .fields
                            .get(column.as_str())
                            .is_some_and(|v| v.is_number())
                })
                .map(|(field, _)| field.clone())
                .collect();
            let record = self.mapper.map(raw)?;
            for field in numeric {
                self.numeric
                    .entry(field)
                    .or_default()
                    .add(|| record.id.clone());
            }
            Ok(record)
        }))
    }
}

/// A whole dataset in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its schema.
    pub schema: Schema,
    /// All records, in file order.
    pub records: Vec<Record>,
}

impl Dataset {
    /// Records of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(move |record| record.split == split)
    }
}

/// Reads a whole dataset; fails on the first bad row (no partial result).
pub fn load(path: &Path, options: &LoadOptions) -> Result<Dataset, DataError> {
    let mut reader = RecordReader::open(path, options)?;
    let records = reader.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(Dataset {
        path: path.into(),
        format: reader.format,
        schema: reader.schema().clone(),
        records,
    })
}
