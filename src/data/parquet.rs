//! Parquet reader (row API of the `parquet` crate, no Arrow), streamed row group by row group.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use serde_json::{Map, Number, Value};

use super::rows::RowSource;
use super::{DataError, RawRow};

/// Streams the rows of a Parquet file as column -> JSON value maps.
pub struct ParquetRows {
    path: PathBuf,
    rows: RowIter<'static>,
    columns: Vec<String>,
    total_rows: u64,
    row: usize,
}

impl ParquetRows {
    /// Opens the file and reads its footer (schema, row count).
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::io(path, source))?;
        let reader = SerializedFileReader::new(file).map_err(|error| DataError::Parquet {
            path: path.into(),
            message: error.to_string(),
        })?;
        let metadata = reader.metadata().file_metadata();
        let total_rows = u64::try_from(metadata.num_rows()).unwrap_or(0);
        let columns = metadata
            .schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_string())
            .collect();
        Ok(Self {
            path: path.into(),
            rows: RowIter::from_file_into(Box::new(reader)),
            columns,
            total_rows,
            row: 0,
        })
    }

    /// Top-level column names from the file schema.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Row count recorded in the footer.
    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }
}

impl RowSource for ParquetRows {
    fn next_row(&mut self) -> Result<Option<RawRow>, DataError> {
        let row = match self.rows.next() {
            None => return Ok(None),
            Some(Err(error)) => {
                return Err(DataError::ParquetRow {
                    path: self.path.clone(),
                    row: self.row + 1,
                    message: error.to_string(),
                })
            }
            Some(Ok(row)) => row,
        };
        self.row += 1;
        let fields: Map<String, Value> = row
            .get_column_iter()
            .map(|(name, field)| (name.clone(), field_to_json(field)))
            .collect();
        Ok(Some(RawRow {
            row: self.row,
            line: None,
            fields,
        }))
    }
}

/// Converts one Parquet value to JSON; byte arrays that are UTF-8 become strings, others a
/// list of byte values (which a text field refuses, naming the column).
fn field_to_json(field: &Field) -> Value {
    match field {
        Field::Null => Value::Null,
        Field::Bool(value) => Value::Bool(*value),
        Field::Byte(value) => Value::from(*value),
        Field::Short(value) => Value::from(*value),
        Field::Int(value) => Value::from(*value),
        Field::Long(value) => Value::from(*value),
        Field::UByte(value) => Value::from(*value),
        Field::UShort(value) => Value::from(*value),
        Field::UInt(value) => Value::from(*value),
        Field::ULong(value) => Value::from(*value),
        Field::Float16(value) => float(f64::from(*value)),
        Field::Float(value) => float(f64::from(*value)),
        Field::Double(value) => float(*value),
        Field::Str(value) => Value::String(value.clone()),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => Value::Array(bytes.data().iter().map(|&b| Value::from(b)).collect()),
        },
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, field)| (name.clone(), field_to_json(field)))
                .collect(),
        ),
        Field::ListInternal(list) => {
            Value::Array(list.elements().iter().map(field_to_json).collect())
        }
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(key, value)| {
                    let key = match field_to_json(key) {
                        Value::String(key) => key,
                        other => other.to_string(),
                    };
                    (key, field_to_json(value))
                })
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}
