//! JSON Lines reader: one object per line, streamed line by line.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::rows::RowSource;
use super::{DataError, RawRow};

/// The longest line read: far past any row (a 100k-word dialogue is ~600 KB).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Streams the rows of a JSON Lines file; blank lines are skipped.
pub struct JsonlRows<R> {
    path: PathBuf,
    reader: R,
    buffer: Vec<u8>,
    line: usize,
    offset: u64,
    row: usize,
}

impl<R: BufRead> JsonlRows<R> {
    /// Reads rows from `reader`; `path` is used in error messages.
    pub fn new(path: &Path, reader: R) -> Self {
        Self {
            path: path.into(),
            reader,
            buffer: Vec::new(),
            line: 0,
            offset: 0,
            row: 0,
        }
    }
}

impl<R: BufRead> RowSource for JsonlRows<R> {
    fn next_row(&mut self) -> Result<Option<RawRow>, DataError> {
        loop {
            self.buffer.clear();
            let line_start = self.offset;
            // Bounded, so a file without line breaks (`/dev/zero`, a binary) cannot grow
            // the buffer without end.
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buffer)
                .map_err(|source| DataError::io(&self.path, source))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            if read > MAX_LINE_BYTES && !self.buffer.ends_with(b"\n") {
                if let Some(position) = self.buffer.iter().position(|&byte| byte == 0) {
                    return Err(DataError::Binary {
                        path: self.path.clone(),
                        offset: line_start + position as u64,
                    });
                }
                return Err(DataError::LineTooLong {
                    path: self.path.clone(),
                    line: self.line,
                    limit_mib: MAX_LINE_BYTES >> 20,
                });
            }
            self.offset += read as u64;
            let mut bytes = self.buffer.as_slice();
            if self.line == 1 {
                bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            }
            if let Some(position) = bytes.iter().position(|&byte| byte == 0) {
                return Err(DataError::Binary {
                    path: self.path.clone(),
                    offset: line_start + position as u64,
                });
            }
            let text = std::str::from_utf8(bytes).map_err(|error| DataError::InvalidUtf8 {
                path: self.path.clone(),
                line: self.line,
                offset: line_start + error.valid_up_to() as u64,
                column: None,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(text).map_err(|error| DataError::MalformedJson {
                    path: self.path.clone(),
                    line: self.line,
                    column: error.column(),
                    message: error.to_string(),
                })?;
            let Value::Object(fields) = value else {
                return Err(DataError::NotAnObject {
                    path: self.path.clone(),
                    line: self.line,
                    found: json_kind(&value).into(),
                });
            };
            self.row += 1;
            return Ok(Some(RawRow {
                row: self.row,
                line: Some(self.line),
                fields,
            }));
        }
    }
}

/// A short name for the kind of a JSON value, for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rows::UntilError;

    fn rows(text: &[u8]) -> Vec<Result<RawRow, DataError>> {
        UntilError::new(JsonlRows::new(Path::new("t.jsonl"), text)).collect()
    }

    #[test]
    fn reads_rows_and_skips_blank_lines() {
        let rows = rows(b"{\"a\": \"x\"}\n\n{\"a\": \"y\"}\r\n");
        assert_eq!(rows.len(), 2);
        let second = rows[1].as_ref().unwrap();
        assert_eq!((second.row, second.line), (2, Some(3)));
        assert_eq!(second.fields["a"], "y");
    }

    #[test]
    fn reports_line_of_bad_json_and_stops() {
        let rows = rows(b"{\"a\": 1}\n{\"a\": \n{\"a\": 2}\n");
        assert_eq!(rows.len(), 2);
        let message = rows[1].as_ref().err().unwrap().to_string();
        assert!(message.starts_with("t.jsonl: line 2, column"), "{message}");
    }

    #[test]
    fn reports_invalid_utf8_offset() {
        let rows = rows(b"{\"a\": \"ok\"}\n{\"a\": \"b\xff\"}\n");
        match &rows[1] {
            Err(DataError::InvalidUtf8 { line, offset, .. }) => {
                assert_eq!((*line, *offset), (2, 20))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_endless_line_is_an_error_not_endless_memory() {
        let endless = |byte: u8| {
            let reader = std::io::BufReader::new(std::io::repeat(byte));
            let mut rows = UntilError::new(JsonlRows::new(Path::new("/dev/zero"), reader));
            let error = rows.next().unwrap().unwrap_err();
            assert!(rows.next().is_none());
            error
        };
        assert!(matches!(endless(0), DataError::Binary { offset: 0, .. }));
        let error = endless(b'x');
        assert!(
            matches!(error, DataError::LineTooLong { line: 1, .. }),
            "{error}"
        );
    }
}
