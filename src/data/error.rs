//! Errors of dataset loading: every variant names the file and, where it applies,
//! the line, row, byte offset or column at fault.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Where a row sits in its file: 1-based row number, plus the 1-based line for text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Location {
    /// 1-based data row (header excluded).
    pub row: usize,
    /// 1-based line where the row starts (text formats only).
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} (row {})", self.row),
            None => write!(f, "row {}", self.row),
        }
    }
}

/// Any failure while reading, detecting or mapping a dataset file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A near-duplicate threshold outside (0, 1].
    #[error(
        "near-duplicate threshold {value}: must be above 0 and at most 1 (a Jaccard similarity)"
    )]
    NearDupThreshold { value: f64 },
    /// The file holds no data (zero bytes, only whitespace, or no rows).
    #[error("{path}: empty file: no rows to read")]
    Empty { path: PathBuf },
    /// The file looks binary (a NUL byte) and is not Parquet.
    #[error("{path}: looks like a binary file (NUL byte at byte offset {offset}), not JSON/JSONL/CSV/TSV text")]
    Binary { path: PathBuf, offset: u64 },
    /// A path that is not a regular file (a pipe, a device, a folder).
    #[error("{path}: is {what}, not a file; a dataset is read more than once (format, rows, checks), so save it to a file first")]
    NotAFile { path: PathBuf, what: &'static str },
    /// A line longer than any row could be: no line breaks (or a binary file).
    #[error("{path}: line {line} is longer than {limit_mib} MiB with no line break; a JSON Lines file has one row per line")]
    LineTooLong {
        path: PathBuf,
        line: usize,
        limit_mib: usize,
    },
    /// Text that is not valid UTF-8.
    #[error("{path}: line {line}: invalid UTF-8 at byte offset {offset}{}", column_suffix(.column))]
    InvalidUtf8 {
        path: PathBuf,
        line: usize,
        offset: u64,
        column: Option<String>,
    },
    /// A JSON value that does not parse.
    #[error("{path}: line {line}, column {column}: malformed JSON: {message}")]
    MalformedJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A JSON row that parses but is not an object of columns.
    #[error("{path}: line {line}: expected a JSON object per row, found {found}")]
    NotAnObject {
        path: PathBuf,
        line: usize,
        found: String,
    },
    /// A JSON document whose top level is neither an array nor `{"data": [...]}`.
    #[error("{path}: line {line}: {message}")]
    JsonLayout {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A quoted CSV field that never closes.
    #[error("{path}: line {line}: unclosed quote: the quoted field opened here never ends")]
    UnclosedQuote { path: PathBuf, line: usize },
    /// A quoted CSV field over several lines whose closing quote is followed by more text:
    /// the sign of a quote left open, which would merge the rows in between into one.
    #[error(
        "{path}: line {line}: a quoted field opens here and runs on to line {closed}, where its \
         closing quote is followed by more text: probably a quote left unclosed on line {line} \
         (lines {line}-{closed} would be read as one row)"
    )]
    MergedRows {
        path: PathBuf,
        line: usize,
        closed: usize,
    },
    /// A CSV row whose field count differs from the header's.
    #[error("{path}: line {line} (row {row}): {found} fields, but the header has {expected}")]
    FieldCount {
        path: PathBuf,
        line: usize,
        row: usize,
        expected: usize,
        found: usize,
    },
    /// Any other CSV reader failure.
    #[error("{path}: line {line}: CSV: {message}")]
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A Parquet file that cannot be opened (bad magic, truncated, corrupt footer).
    #[error("{path}: not a readable Parquet file: {message}")]
    Parquet { path: PathBuf, message: String },
    /// A Parquet row that cannot be decoded.
    #[error("{path}: row {row}: Parquet: {message}")]
    ParquetRow {
        path: PathBuf,
        row: usize,
        message: String,
    },
    /// The format could not be recognised.
    #[error("{path}: unknown data format: {message}")]
    UnknownFormat { path: PathBuf, message: String },
    /// A column named in the column mapping is not in the file.
    #[error("{path}: column `{column}` (mapped to field `{field}`) is not in the file; columns are: {available}")]
    MissingColumn {
        path: PathBuf,
        field: String,
        column: String,
        available: String,
    },
    /// A column mapped to a text field holds something else.
    #[error("{path}: {location}: column `{column}` (mapped to `{field}`) holds {found}, not text")]
    ColumnType {
        path: PathBuf,
        location: Location,
        column: String,
        field: String,
        found: &'static str,
    },
    /// No known schema matches and no column mapping was given.
    #[error("{path}: unrecognised columns ({columns}); say which column holds the dialogue and which the summary (the Datasets page's column mapping, or --column dialogue=COLUMN --column summary=COLUMN)")]
    UnknownSchema { path: PathBuf, columns: String },
    /// A `split` column value that is not train / validation / test.
    #[error("{path}: {location}: column `{column}`: unknown split `{value}` (expected train, validation or test)")]
    InvalidSplit {
        path: PathBuf,
        location: Location,
        column: String,
        value: String,
    },
    /// A dialogue given as a JSON message list that cannot be read.
    #[error("{path}: {location}: field `{field}`: {message}")]
    Chat {
        path: PathBuf,
        location: Location,
        field: String,
        message: String,
    },
}

fn column_suffix(column: &Option<String>) -> String {
    match column {
        Some(column) => format!(", column `{column}`"),
        None => String::new(),
    }
}

impl DataError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_and_place() {
        let error = DataError::InvalidUtf8 {
            path: "a.csv".into(),
            line: 3,
            offset: 41,
            column: Some("dialogue".into()),
        };
        assert_eq!(
            error.to_string(),
            "a.csv: line 3: invalid UTF-8 at byte offset 41, column `dialogue`"
        );
        let location = Location {
            row: 2,
            line: Some(5),
        };
        assert_eq!(location.to_string(), "line 5 (row 2)");
        assert_eq!(Location { row: 7, line: None }.to_string(), "row 7");
    }
}
