//! One way for every format's reader to become a stream of rows: each reads a row at a time
//! ([`RowSource`]), and [`UntilError`] makes that an iterator that ends at the end of the
//! input or right after the first error (a reader is never asked again once it failed: its
//! position is lost, and a second error would only repeat the first).

use super::{DataError, RawRow};

/// A reader of one format that yields its rows one at a time.
pub trait RowSource {
    /// The next row, `None` at the end of the input.
    fn next_row(&mut self) -> Result<Option<RawRow>, DataError>;
}

/// `source`'s rows as the boxed stream [`super::open_rows`] hands out.
pub fn stream(source: impl RowSource + 'static) -> super::RawRows {
    Box::new(UntilError::new(source))
}

/// The rows of a [`RowSource`], ending after the first error.
pub struct UntilError<S> {
    source: Option<S>,
}

impl<S: RowSource> UntilError<S> {
    /// Streams `source`'s rows.
    pub fn new(source: S) -> Self {
        Self {
            source: Some(source),
        }
    }
}

impl<S: RowSource> Iterator for UntilError<S> {
    type Item = Result<RawRow, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.source.as_mut()?.next_row().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.source = None;
        }
        next
    }
}
