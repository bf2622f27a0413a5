//! JSON document reader for `[{...}, ...]` or `{"data": [{...}, ...]}`, streamed one array
//! element at a time: a byte scanner finds each element's extent and only that element is
//! parsed, so memory stays bounded by the largest row, not the file.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::jsonl::json_kind;
use super::rows::RowSource;
use super::{DataError, RawRow};

/// The key whose array holds the rows when the document is an object.
const DATA_KEY: &str = "data";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    InArray { first: bool },
    Done,
}

/// Streams the rows of a JSON array document.
pub struct JsonRows<R> {
    path: PathBuf,
    reader: R,
    line: usize,
    offset: u64,
    row: usize,
    state: State,
}

impl<R: BufRead> JsonRows<R> {
    /// Reads rows from `reader`; `path` is used in error messages.
    pub fn new(path: &Path, reader: R) -> Self {
        Self {
            path: path.into(),
            reader,
            line: 1,
            offset: 0,
            row: 0,
            state: State::Start,
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, DataError> {
        let buffer = self
            .reader
            .fill_buf()
            .map_err(|source| DataError::io(&self.path, source))?;
        Ok(buffer.first().copied())
    }

    fn bump(&mut self) -> Result<Option<u8>, DataError> {
        let byte = self.peek()?;
        if let Some(byte) = byte {
            self.reader.consume(1);
            self.offset += 1;
            if byte == b'\n' {
                self.line += 1;
            }
            if byte == 0 {
                return Err(DataError::Binary {
                    path: self.path.clone(),
                    offset: self.offset - 1,
                });
            }
        }
        Ok(byte)
    }

    fn skip_whitespace(&mut self) -> Result<Option<u8>, DataError> {
        loop {
            match self.peek()? {
                Some(byte) if byte.is_ascii_whitespace() => {
                    self.bump()?;
                }
                Some(0xEF) if self.offset == 0 => {
                    // UTF-8 byte order mark.
                    for _ in 0..3 {
                        self.bump()?;
                    }
                }
                other => return Ok(other),
            }
        }
    }

    fn layout_error(&self, message: impl Into<String>) -> DataError {
        DataError::JsonLayout {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    fn end_of_file(&self) -> DataError {
        DataError::MalformedJson {
            path: self.path.clone(),
            line: self.line,
            column: 0,
            message: "unexpected end of file inside the JSON document".into(),
        }
    }

    fn expect(&mut self, wanted: u8) -> Result<(), DataError> {
        match self.bump()? {
            Some(byte) if byte == wanted => Ok(()),
            Some(byte) => Err(DataError::MalformedJson {
                path: self.path.clone(),
                line: self.line,
                column: 0,
                message: format!("expected `{}`, found `{}`", wanted as char, byte as char),
            }),
            None => Err(self.end_of_file()),
        }
    }

    /// Copies the raw bytes of one JSON value (object, array, string or scalar).
    fn raw_value(&mut self) -> Result<Vec<u8>, DataError> {
        let mut raw = Vec::new();
        let Some(first) = self.peek()? else {
            return Err(self.end_of_file());
        };
        match first {
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut in_string = false;
                let mut escaped = false;
                loop {
                    let Some(byte) = self.bump()? else {
                        return Err(self.end_of_file());
                    };
                    raw.push(byte);
                    if in_string {
                        match (escaped, byte) {
                            (true, _) => escaped = false,
                            (false, b'\\') => escaped = true,
                            (false, b'"') => in_string = false,
                            _ => {}
                        }
                        continue;
                    }
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Ok(raw);
                            }
                        }
                        _ => {}
                    }
                }
            }
            b'"' => {
                raw.push(b'"');
                self.bump()?;
                let mut escaped = false;
                loop {
                    let Some(byte) = self.bump()? else {
                        return Err(self.end_of_file());
                    };
                    raw.push(byte);
                    match (escaped, byte) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => return Ok(raw),
                        _ => {}
                    }
                }
            }
            _ => {
                while let Some(byte) = self.peek()? {
                    if byte.is_ascii_whitespace() || matches!(byte, b',' | b']' | b'}') {
                        break;
                    }
                    raw.push(byte);
                    self.bump()?;
                }
                Ok(raw)
            }
        }
    }

    /// Parses raw bytes that started at `line` / `offset`, reporting positions in the file.
    fn parse(&self, raw: &[u8], line: usize, offset: u64) -> Result<Value, DataError> {
        if let Err(error) = std::str::from_utf8(raw) {
            let valid = &raw[..error.valid_up_to()];
            let lines_before = valid.iter().filter(|&&byte| byte == b'\n').count();
            return Err(DataError::InvalidUtf8 {
                path: self.path.clone(),
                line: line + lines_before,
                offset: offset + error.valid_up_to() as u64,
                column: None,
            });
        }
        serde_json::from_slice(raw).map_err(|error| DataError::MalformedJson {
            path: self.path.clone(),
            line: line + error.line().saturating_sub(1),
            column: error.column(),
            message: error.to_string(),
        })
    }

    /// Moves from the document start to just inside the array of rows.
    fn open_array(&mut self) -> Result<(), DataError> {
        match self.skip_whitespace()? {
            Some(b'[') => {
                self.bump()?;
                Ok(())
            }
            Some(b'{') => {
                self.bump()?;
                loop {
                    match self.skip_whitespace()? {
                        Some(b'"') => {}
                        Some(b'}') | None => {
                            return Err(self.layout_error(format!(
                                "the top-level object has no \"{DATA_KEY}\" array of rows"
                            )))
                        }
                        Some(_) => {
                            let (line, offset) = (self.line, self.offset);
                            let raw = self.raw_value()?;
                            self.parse(&raw, line, offset)?;
                            return Err(self.layout_error("expected a quoted object key"));
                        }
                    }
                    let (line, offset) = (self.line, self.offset);
                    let raw_key = self.raw_value()?;
                    let key = match self.parse(&raw_key, line, offset)? {
                        Value::String(key) => key,
                        _ => return Err(self.layout_error("expected a quoted object key")),
                    };
                    self.skip_whitespace()?;
                    self.expect(b':')?;
                    let next = self.skip_whitespace()?;
                    if key == DATA_KEY {
                        if next != Some(b'[') {
                            return Err(self
                                .layout_error(format!("\"{DATA_KEY}\" is not an array of rows")));
                        }
                        self.bump()?;
                        return Ok(());
                    }
                    let (line, offset) = (self.line, self.offset);
                    let skipped = self.raw_value()?;
                    self.parse(&skipped, line, offset)?;
                    if self.skip_whitespace()? == Some(b',') {
                        self.bump()?;
                    }
                }
            }
            Some(_) => Err(self.layout_error(format!(
                "a JSON document must be an array of rows or an object with a \"{DATA_KEY}\" array"
            ))),
            None => Err(DataError::Empty {
                path: self.path.clone(),
            }),
        }
    }
}

impl<R: BufRead> RowSource for JsonRows<R> {
    fn next_row(&mut self) -> Result<Option<RawRow>, DataError> {
        if self.state == State::Start {
            self.open_array()?;
            self.state = State::InArray { first: true };
        }
        let State::InArray { first } = self.state else {
            return Ok(None);
        };
        match self.skip_whitespace()? {
            Some(b']') => {
                self.bump()?;
                self.state = State::Done;
                return Ok(None);
            }
            None => return Err(self.end_of_file()),
            Some(_) if !first => {
                self.expect(b',')?;
                self.skip_whitespace()?;
            }
            Some(_) => {}
        }
        self.state = State::InArray { first: false };
        let (line, offset) = (self.line, self.offset);
        let raw = self.raw_value()?;
        let value = self.parse(&raw, line, offset)?;
        let Value::Object(fields) = value else {
            return Err(DataError::NotAnObject {
                path: self.path.clone(),
                line,
                found: json_kind(&value).into(),
            });
        };
        self.row += 1;
        Ok(Some(RawRow {
            row: self.row,
            line: Some(line),
            fields,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rows::UntilError;

    fn rows(text: &str) -> Vec<Result<RawRow, DataError>> {
        UntilError::new(JsonRows::new(Path::new("t.json"), text.as_bytes())).collect()
    }

    #[test]
    fn reads_top_level_array() {
        let rows = rows("[\n {\"a\": \"x]\\\"}\"},\n {\"a\": [1, {\"b\": 2}]}\n]");
        assert_eq!(rows.len(), 2);
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.fields["a"], "x]\"}");
        assert_eq!(rows[1].as_ref().unwrap().line, Some(3));
    }

    #[test]
    fn reads_data_key_after_other_keys() {
        let rows = rows("{\"version\": {\"v\": [1]}, \"data\": [{\"a\": 1}, {\"a\": 2}]}");
        let values: Vec<_> = rows
            .iter()
            .map(|row| row.as_ref().unwrap().fields["a"].clone())
            .collect();
        assert_eq!(values, vec![Value::from(1), Value::from(2)]);
    }

    #[test]
    fn reports_bad_element_line() {
        let rows = rows("[\n{\"a\": 1},\n{\"a\": 1,,}\n]");
        let message = rows[1].as_ref().err().unwrap().to_string();
        assert!(message.starts_with("t.json: line 3, column"), "{message}");
    }

    #[test]
    fn rejects_other_layouts() {
        let message = rows("{\"rows\": []}")[0]
            .as_ref()
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("no \"data\" array"), "{message}");
        let message = rows("[{\"a\": 1}, 3]")[1]
            .as_ref()
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("found a number"), "{message}");
        assert!(matches!(
            rows("[{\"a\": 1}")[1],
            Err(DataError::MalformedJson { .. })
        ));
    }
}
