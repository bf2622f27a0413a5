//! CSV / TSV reader (header row, quoted multi-line fields), streamed record by record.
//!
//! The `csv` crate accepts a quote left open at end of file, and a quoted field whose closing
//! quote is followed by more text; a small tracker watches the bytes it reads so that such a
//! file is rejected, naming the line where the quote opened. The second case is how a quote
//! left open in mid-file shows: the field runs on over the next lines until some later quote
//! closes it, silently merging those rows into one, and that later quote is almost never
//! followed by a separator.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::rows::RowSource;
use super::{DataError, RawRow};

/// Quote state of the bytes read so far, following RFC 4180.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// A reader that tracks whether the input ends inside a quoted field, and where its lines
/// start (the `csv` crate's own line count skips blank lines).
struct QuoteTracker<R> {
    inner: R,
    delimiter: u8,
    state: QuoteState,
    line: usize,
    opened_at_line: usize,
    /// Whether the quoted field being read has crossed a line break.
    quoted_newline: bool,
    /// A multi-line quoted field whose closing quote is followed by text: (the line it opened
    /// on, the line of that quote).
    stray: Option<(usize, usize)>,
    at_eof: bool,
    /// Bytes read so far.
    offset: u64,
    /// Byte offsets of the newlines read but not yet passed by [`Self::line_at`].
    newlines: std::collections::VecDeque<u64>,
    /// Newlines before the last offset asked about.
    lines_before: usize,
    /// Whether the next byte starts a line (outside quotes).
    at_line_start: bool,
    /// Byte offsets where non-blank lines start, not yet passed by [`Self::record_line`].
    line_starts: std::collections::VecDeque<u64>,
}

impl<R: Read> QuoteTracker<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner,
            delimiter,
            state: QuoteState::FieldStart,
            line: 1,
            opened_at_line: 0,
            quoted_newline: false,
            stray: None,
            at_eof: false,
            offset: 0,
            newlines: std::collections::VecDeque::new(),
            lines_before: 0,
            at_line_start: true,
            line_starts: std::collections::VecDeque::new(),
        }
    }

    /// The 1-based line a record starts on, given the byte offset the `csv` crate reports
    /// for it (which lies before any blank lines it skipped): the first non-blank line start
    /// at or after it. Records must be asked about in order.
    fn record_line(&mut self, reported: u64) -> usize {
        while self
            .line_starts
            .front()
            .is_some_and(|&start| start < reported)
        {
            self.line_starts.pop_front();
        }
        let start = self.line_starts.front().copied().unwrap_or(reported);
        self.line_at(start)
    }

    /// The 1-based line of byte offset `byte`; offsets must be asked about in order.
    fn line_at(&mut self, byte: u64) -> usize {
        while self.newlines.front().is_some_and(|&newline| newline < byte) {
            self.newlines.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }

    fn observe(&mut self, byte: u8) {
        let line_break = byte == b'\n' || byte == b'\r';
        if self.at_line_start && !line_break {
            self.line_starts.push_back(self.offset);
            self.at_line_start = false;
        }
        let separator = byte == self.delimiter || line_break;
        self.state = match (self.state, byte) {
            (QuoteState::FieldStart, b'"') => {
                self.opened_at_line = self.line;
                self.quoted_newline = false;
                QuoteState::Quoted
            }
            (QuoteState::FieldStart | QuoteState::Unquoted, _) if separator => {
                QuoteState::FieldStart
            }
            (QuoteState::FieldStart | QuoteState::Unquoted, _) => QuoteState::Unquoted,
            (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
            (QuoteState::Quoted, _) => QuoteState::Quoted,
            (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
            (QuoteState::QuoteInQuoted, _) if separator => QuoteState::FieldStart,
            (QuoteState::QuoteInQuoted, _) => {
                if self.quoted_newline && self.stray.is_none() {
                    self.stray = Some((self.opened_at_line, self.line));
                }
                QuoteState::Unquoted
            }
        };
        if byte == b'\n' && self.state == QuoteState::Quoted {
            self.quoted_newline = true;
        }
        if byte == b'\n' {
            self.line += 1;
            self.newlines.push_back(self.offset);
            // A newline inside a quoted field does not start a record.
            self.at_line_start = self.state == QuoteState::FieldStart;
        }
        self.offset += 1;
    }

    /// The line of a quote still open at end of input, if any.
    fn unclosed_quote(&self) -> Option<usize> {
        (self.at_eof && self.state == QuoteState::Quoted).then_some(self.opened_at_line)
    }

    /// The error for what the bytes read so far show: a multi-line quoted field closed by a
    /// quote that text follows (see the module docs), or a quote still open at end of input.
    fn quote_error(&self, path: &Path) -> Option<DataError> {
        if let Some((line, closed)) = self.stray {
            return Some(DataError::MergedRows {
                path: path.into(),
                line,
                closed,
            });
        }
        self.unclosed_quote().map(|line| DataError::UnclosedQuote {
            path: path.into(),
            line,
        })
    }
}

impl<R: Read> Read for QuoteTracker<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if read == 0 && !buffer.is_empty() {
            self.at_eof = true;
        }
        for &byte in &buffer[..read] {
            self.observe(byte);
        }
        Ok(read)
    }
}

/// Streams the rows of a CSV or TSV file as column -> string maps.
pub struct CsvRows<R> {
    path: PathBuf,
    reader: ::csv::Reader<QuoteTracker<R>>,
    headers: Vec<String>,
    record: ::csv::ByteRecord,
    row: usize,
}

impl<R: Read> CsvRows<R> {
    /// Reads the header row; `delimiter` is `b','` for CSV or `b'\t'` for TSV.
    pub fn new(path: &Path, reader: R, delimiter: u8) -> Result<Self, DataError> {
        let mut reader = ::csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(QuoteTracker::new(reader, delimiter));
        let header_record = reader
            .byte_headers()
            .map_err(|error| csv_error(path, error))?
            .clone();
        if let Some(error) = reader.get_ref().quote_error(path) {
            return Err(error);
        }
        let mut headers = Vec::with_capacity(header_record.len());
        for (index, field) in header_record.iter().enumerate() {
            let field = if index == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            let name = std::str::from_utf8(field).map_err(|error| DataError::InvalidUtf8 {
                path: path.into(),
                line: 1,
                offset: error.valid_up_to() as u64,
                column: None,
            })?;
            headers.push(name.trim().to_string());
        }
        if headers.iter().all(String::is_empty) {
            return Err(DataError::Empty { path: path.into() });
        }
        Ok(Self {
            path: path.into(),
            reader,
            headers,
            record: ::csv::ByteRecord::new(),
            row: 0,
        })
    }

    /// The column names from the header row.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    fn unclosed_quote_error(&mut self) -> Option<DataError> {
        // Read what the CSV reader has not consumed so the tracker sees the whole input.
        let tracker = self.reader.get_mut();
        if !tracker.at_eof && io::copy(tracker, &mut io::sink()).is_err() {
            return None;
        }
        tracker.quote_error(&self.path)
    }
}

impl<R: Read> RowSource for CsvRows<R> {
    fn next_row(&mut self) -> Result<Option<RawRow>, DataError> {
        let has_record = match self.reader.read_byte_record(&mut self.record) {
            Ok(has_record) => has_record,
            Err(error) => {
                if let Some(unclosed) = self.unclosed_quote_error() {
                    return Err(unclosed);
                }
                return Err(match error.kind() {
                    ::csv::ErrorKind::UnequalLengths {
                        pos: Some(position),
                        expected_len,
                        len,
                    } => DataError::FieldCount {
                        path: self.path.clone(),
                        line: position.line() as usize,
                        row: self.row + 1,
                        expected: *expected_len as usize,
                        found: *len as usize,
                    },
                    _ => csv_error(&self.path, error),
                });
            }
        };
        if let Some(error) = self.reader.get_ref().quote_error(&self.path) {
            return Err(error);
        }
        if !has_record {
            return Ok(None);
        }
        let record_offset = self.record.position().map_or(0, |position| position.byte());
        let line = self.reader.get_mut().record_line(record_offset);
        let mut fields = Map::new();
        for (header, bytes) in self.headers.iter().zip(self.record.iter()) {
            let text = std::str::from_utf8(bytes).map_err(|error| DataError::InvalidUtf8 {
                path: self.path.clone(),
                line,
                offset: record_offset + error.valid_up_to() as u64,
                column: Some(header.clone()),
            })?;
            fields.insert(header.clone(), Value::String(text.to_string()));
        }
        self.row += 1;
        Ok(Some(RawRow {
            row: self.row,
            line: Some(line),
            fields,
        }))
    }
}

fn csv_error(path: &Path, error: ::csv::Error) -> DataError {
    let line = error
        .position()
        .map_or(0, |position| position.line() as usize);
    match error.kind() {
        ::csv::ErrorKind::Io(_) => DataError::io(path, io::Error::other(error.to_string())),
        _ => DataError::Csv {
            path: path.into(),
            line,
            message: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, delimiter: u8) -> Result<Vec<RawRow>, DataError> {
        crate::data::rows::UntilError::new(CsvRows::new(
            Path::new("t.csv"),
            text.as_bytes(),
            delimiter,
        )?)
        .collect()
    }

    #[test]
    fn reads_quoted_multiline_fields() {
        let rows = rows("id,dialogue\n1,\"A: hi,\nB: \"\"yo\"\"\"\n2,x\n", b',').unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].fields["dialogue"], "A: hi,\nB: \"yo\"");
        assert_eq!((rows[1].row, rows[1].line), (2, Some(4)));
    }

    #[test]
    fn every_row_names_the_line_it_starts_on() {
        let rows = rows("a,b\n1,2\n3,4\n\n5,6\n", b',').unwrap();
        let lines: Vec<Option<usize>> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![Some(2), Some(3), Some(5)]);
    }

    #[test]
    fn reads_tsv() {
        let rows = rows("a\tb\nx, y\tz\n", b'\t').unwrap();
        assert_eq!(rows[0].fields["a"], "x, y");
    }

    #[test]
    fn unclosed_quote_names_its_line() {
        for text in ["a,b\n1,2\n3,\"oops\n", "a,b\n1,\"x\n2,3\n4,5\n"] {
            match rows(text, b',') {
                Err(DataError::UnclosedQuote { line, .. }) => {
                    assert_eq!(line, if text.starts_with("a,b\n1,2") { 3 } else { 2 })
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_quote_left_open_mid_file_does_not_merge_rows() {
        // Row 1's quote never closes: the csv crate alone reads rows 1-3 as one record of
        // the right width (dialogue "hi,\n2,yo\n3,ok" + text), losing rows 2 and 3.
        let text = "id,dialogue,summary\n1,\"hi,\n2,yo,x\n3,\"ok\",y\n4,z,w\n";
        match rows(text, b',') {
            Err(
                error @ DataError::MergedRows {
                    line: 2, closed: 4, ..
                },
            ) => {
                let message = error.to_string();
                assert!(message.contains("t.csv: line 2"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Quoted fields over several lines, closed properly, still read.
        let fine = "id,dialogue,summary\n1,\"A: hi\nB: yo\",x\n2,\"ok\",y\n";
        assert_eq!(rows(fine, b',').unwrap().len(), 2);
    }

    #[test]
    fn field_count_mismatch_names_line() {
        match rows("a,b\n1,2\n3\n", b',') {
            Err(DataError::FieldCount { line, row, .. }) => assert_eq!((line, row), (3, 2)),
            other => panic!("{other:?}"),
        }
    }
}
