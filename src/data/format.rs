//! File format detection: by Parquet magic bytes first, then by extension, then by sniffing
//! the first bytes of text.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::DataError;

/// How many bytes are read to sniff a file's format.
const SNIFF_BYTES: usize = 64 * 1024;

/// A supported dataset file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects, or `{"data": [...]}`.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// Apache Parquet (as published by Hugging Face datasets).
    Parquet,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jsonl => "jsonl",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Parquet => "parquet",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "jsonlines" => Ok(Format::Jsonl),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "tsv" | "tab" => Ok(Format::Tsv),
            "parquet" | "pq" => Ok(Format::Parquet),
            other => Err(format!(
                "unknown format `{other}` (expected jsonl, json, csv, tsv or parquet)"
            )),
        }
    }
}

/// Detects the format of the file at `path`, rejecting empty and binary files.
pub fn detect(path: &Path) -> Result<Format, DataError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    File::open(path)
        .and_then(|file| file.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|source| DataError::io(path, source))?;
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    detect_bytes(path, &head, extension.as_deref())
}

/// Detects a format from the first bytes of a file and its lower-case extension.
pub fn detect_bytes(
    path: &Path,
    head: &[u8],
    extension: Option<&str>,
) -> Result<Format, DataError> {
    if head.is_empty() {
        return Err(DataError::Empty { path: path.into() });
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    let by_extension = extension.and_then(|extension| extension.parse::<Format>().ok());
    if by_extension == Some(Format::Parquet) {
        return Err(DataError::Parquet {
            path: path.into(),
            message: "missing the PAR1 magic bytes at the start".into(),
        });
    }
    if let Some(offset) = head.iter().position(|&byte| byte == 0) {
        return Err(DataError::Binary {
            path: path.into(),
            offset: offset as u64,
        });
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Some(first) = text.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return Err(DataError::Empty { path: path.into() });
    };
    match by_extension {
        Some(Format::Json) if text[first] == b'{' && looks_like_jsonl(&text[first..]) => {
            Ok(Format::Jsonl)
        }
        Some(format) => Ok(format),
        None => sniff_text(path, &text[first..]),
    }
}

/// Guesses a text format from content starting at its first non-blank byte.
fn sniff_text(path: &Path, text: &[u8]) -> Result<Format, DataError> {
    match text[0] {
        b'[' => Ok(Format::Json),
        b'{' if looks_like_jsonl(text) => Ok(Format::Jsonl),
        b'{' => Ok(Format::Json),
        _ => {
            let first_line = text.split(|&byte| byte == b'\n').next().unwrap_or(text);
            let tabs = first_line.iter().filter(|&&byte| byte == b'\t').count();
            let commas = first_line.iter().filter(|&&byte| byte == b',').count();
            match (tabs, commas) {
                (0, 0) => Err(DataError::UnknownFormat {
                    path: path.into(),
                    message: "not JSON, and the first line has neither tabs nor commas; \
                              use a .jsonl, .json, .csv, .tsv or .parquet file"
                        .into(),
                }),
                (tabs, commas) if tabs >= commas => Ok(Format::Tsv),
                _ => Ok(Format::Csv),
            }
        }
    }
}

/// True when the first line is a whole JSON object (so the file is JSON Lines), unless that
/// object is the only content and holds a `"data"` array (a one-line `{"data": [...]}`).
fn looks_like_jsonl(text: &[u8]) -> bool {
    let (first_line, rest) = match text.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&text[..end], &text[end + 1..]),
        None => (text, &[][..]),
    };
    match serde_json::from_slice::<serde_json::Value>(first_line) {
        Ok(serde_json::Value::Object(object)) => {
            let only_line = rest.iter().all(u8::is_ascii_whitespace);
            !(only_line && object.get("data").is_some_and(serde_json::Value::is_array))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(head: &[u8], extension: Option<&str>) -> Result<Format, DataError> {
        detect_bytes(Path::new("f"), head, extension)
    }

    #[test]
    fn sniffs_by_content_and_extension() {
        assert_eq!(sniff(b"PAR1....", Some("bin")).unwrap(), Format::Parquet);
        assert_eq!(
            sniff(b"{\"a\":1}\n{\"a\":2}\n", None).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            sniff(b"{\"a\":1}\n{\"a\":2}\n", Some("json")).unwrap(),
            Format::Jsonl
        );
        assert_eq!(
            sniff(b"{\n \"data\": []}", Some("json")).unwrap(),
            Format::Json
        );
        assert_eq!(
            sniff(b"{\"data\": [{\"a\": 1}]}\n", None).unwrap(),
            Format::Json
        );
        assert_eq!(
            sniff(b"{\"data\": [1]}\n{\"data\": [2]}", None).unwrap(),
            Format::Jsonl
        );
        assert_eq!(sniff(b"  [{\"a\":1}]", None).unwrap(), Format::Json);
        assert_eq!(sniff(b"a\tb,c\n", None).unwrap(), Format::Tsv);
        assert_eq!(sniff(b"a,b\n", None).unwrap(), Format::Csv);
        assert_eq!(sniff(b"a,b\n", Some("tsv")).unwrap(), Format::Tsv);
    }

    #[test]
    fn rejects_empty_binary_and_fake_parquet() {
        assert!(matches!(sniff(b"", None), Err(DataError::Empty { .. })));
        assert!(matches!(
            sniff(b" \n\t", Some("csv")),
            Err(DataError::Empty { .. })
        ));
        assert!(matches!(
            sniff(b"ab\0cd", Some("csv")),
            Err(DataError::Binary { offset: 2, .. })
        ));
        assert!(matches!(
            sniff(b"a,b", Some("parquet")),
            Err(DataError::Parquet { .. })
        ));
        assert!(matches!(
            sniff(b"hello", None),
            Err(DataError::UnknownFormat { .. })
        ));
    }
}
