//! Schema detection (DialogSum, SAMSum, generic pairs) and an explicit column mapping that
//! turns raw rows into [`Record`]s with canonical field names.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::chat::{self, SpeakerStyle};
use super::split::{Split, SplitSpec};
use super::{DataError, Location, RawRow};

/// Canonical field that holds a dialogue and is chat-normalised.
pub const DIALOGUE: &str = "dialogue";
/// Mapping key naming the id column.
pub const ID: &str = "id";
/// Mapping key naming the split column.
pub const SPLIT: &str = "split";
/// Column names recognised as example ids, first match wins.
const ID_COLUMNS: [&str; 4] = ["id", "fname", "guid", "uid"];
/// Generic (input, target) column pairs, first match wins.
const GENERIC_PAIRS: [(&str, &str); 3] = [
    ("input", "output"),
    ("text", "target"),
    ("prompt", "response"),
];

/// Which known layout a file's columns matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaKind {
    /// `dialogue`, `summary`, `topic`.
    #[serde(rename = "dialogsum")]
    DialogSum,
    /// DialogSum test layout: `dialogue`, `summary1..3`, `topic1..3`.
    #[serde(rename = "dialogsum-multi")]
    DialogSumMulti,
    /// `dialogue`, `summary`.
    #[serde(rename = "samsum")]
    SamSum,
    /// `input`/`output`, `text`/`target` or `prompt`/`response`, mapped to `input`/`target`.
    Generic,
    /// Only the explicit column mapping.
    Custom,
}

impl fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchemaKind::DialogSum => "dialogsum",
            SchemaKind::DialogSumMulti => "dialogsum (multi-reference)",
            SchemaKind::SamSum => "samsum",
            SchemaKind::Generic => "generic",
            SchemaKind::Custom => "custom",
        })
    }
}

/// Explicit mapping from canonical field names to file columns (`dialogue = "conversation"`);
/// the keys `id` and `split` name the id and split columns.
pub type ColumnMapping = BTreeMap<String, String>;

/// The detected layout of a file: which column feeds which canonical field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Schema {
    /// The layout recognised.
    pub kind: SchemaKind,
    /// Canonical field -> column.
    pub fields: BTreeMap<String, String>,
    /// Column holding example ids, if any.
    pub id_column: Option<String>,
    /// Column holding split names, if any.
    pub split_column: Option<String>,
}

/// One example with canonical fields, an id and a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "DataRecord")]
pub struct Record {
    /// The id column's value, or `<file stem>:<row>` without one.
    pub id: String,
    /// Which split the example belongs to.
    pub split: Split,
    /// Where it came from in the file.
    pub location: Location,
    /// Canonical field -> text (dialogues normalised).
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// The text models read: `dialogue`, else `input`, else the first field.
    pub fn input_text(&self) -> &str {
        self.field_of(&[DIALOGUE, "input"]).unwrap_or_default()
    }

    /// The text models write: `summary`, else `target`, else none.
    pub fn target_text(&self) -> Option<&str> {
        ["summary", "target"]
            .iter()
            .find_map(|name| self.fields.get(*name))
            .map(String::as_str)
    }

    fn field_of(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|name| self.fields.get(*name))
            .or_else(|| self.fields.values().next())
            .map(String::as_str)
    }
}

/// Detects the schema of a file from its column names, applying `mapping` on top: a mapped
/// field counts as present, so `--column dialogue=chat` on a file with `chat` and `summary`
/// columns is recognised as SAMSum.
pub fn detect(
    path: &Path,
    columns: &[String],
    mapping: &ColumnMapping,
) -> Result<Schema, DataError> {
    for (field, column) in mapping {
        if !columns.contains(column) {
            return Err(DataError::MissingColumn {
                path: path.into(),
                field: field.clone(),
                column: column.clone(),
                available: columns.join(", "),
            });
        }
    }
    let source = |field: &str| -> Option<String> {
        mapping
            .get(field)
            .cloned()
            .or_else(|| columns.iter().find(|column| *column == field).cloned())
    };
    let has = |field: &str| source(field).is_some();
    let known: &[(&str, &str)] = if has(DIALOGUE) && has("summary") && has("topic") {
        &[
            (DIALOGUE, DIALOGUE),
            ("summary", "summary"),
            ("topic", "topic"),
        ]
    } else if has(DIALOGUE) && has("summary1") {
        &[
            (DIALOGUE, DIALOGUE),
            ("summary", "summary1"),
            ("topic", "topic1"),
            ("summary2", "summary2"),
            ("summary3", "summary3"),
            ("topic2", "topic2"),
            ("topic3", "topic3"),
        ]
    } else if has(DIALOGUE) && has("summary") {
        &[(DIALOGUE, DIALOGUE), ("summary", "summary")]
    } else {
        &[]
    };
    let generic = GENERIC_PAIRS
        .iter()
        .find(|(input, target)| has(input) && has(target));
    let (mut kind, pairs): (Option<SchemaKind>, Vec<(&str, &str)>) = match (known.len(), generic) {
        (3, _) => (Some(SchemaKind::DialogSum), known.to_vec()),
        (2, _) => (Some(SchemaKind::SamSum), known.to_vec()),
        (0, Some((input, target))) => (
            Some(SchemaKind::Generic),
            vec![("input", *input), ("target", *target)],
        ),
        (0, None) => (None, Vec::new()),
        _ => (Some(SchemaKind::DialogSumMulti), known.to_vec()),
    };
    let mut fields = BTreeMap::new();
    for (field, name) in pairs {
        if let Some(column) = source(name) {
            fields.insert(field.to_string(), column);
        }
    }
    for (field, column) in mapping {
        if field != ID && field != SPLIT && !fields.contains_key(field) {
            fields.insert(field.clone(), column.clone());
            kind = kind.or(Some(SchemaKind::Custom));
        }
    }
    let id_column = mapping
        .get(ID)
        .cloned()
        .or_else(|| ID_COLUMNS.iter().find_map(|name| source(name)));
    let split_column = source(SPLIT);
    match kind {
        Some(kind) => Ok(Schema {
            kind,
            fields,
            id_column,
            split_column,
        }),
        None => Err(DataError::UnknownSchema {
            path: path.into(),
            columns: columns.join(", "),
        }),
    }
}

/// Turns raw rows into records for one file.
#[derive(Debug, Clone)]
pub struct RecordMapper {
    path: PathBuf,
    stem: String,
    schema: Schema,
    speakers: SpeakerStyle,
    split: SplitAssignment,
}

/// How records get their split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitAssignment {
    /// Every record is in this split.
    Fixed(Split),
    /// The split column if there is one, else a seeded hash of the id.
    Seeded { spec: SplitSpec, seed: u64 },
}

impl RecordMapper {
    /// A mapper for `path` with its detected `schema`.
    pub fn new(
        path: &Path,
        schema: Schema,
        speakers: SpeakerStyle,
        split: SplitAssignment,
    ) -> Self {
        let stem = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            path: path.into(),
            stem,
            schema,
            speakers,
            split,
        }
    }

    /// The schema records are mapped with.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Maps one raw row; absent and null values become empty text (reported by checks).
    pub fn map(&self, raw: RawRow) -> Result<Record, DataError> {
        let location = Location {
            row: raw.row,
            line: raw.line,
        };
        let mut fields = BTreeMap::new();
        for (field, column) in &self.schema.fields {
            let value = raw.fields.get(column).unwrap_or(&Value::Null);
            // A dialogue is text or a list of messages; a number there (a Parquet or JSON
            // int column) is a column mapped by mistake, not a chat. Other fields may hold
            // numbers (a label, a topic id), read as their text.
            let found = match value {
                Value::Bool(_) => Some("true/false values"),
                Value::Array(_) if field != DIALOGUE => Some("lists or binary data"),
                Value::Object(_) => Some("objects"),
                Value::Number(_) if field == DIALOGUE => Some("numbers"),
                _ => None,
            };
            if let Some(found) = found {
                return Err(DataError::ColumnType {
                    path: self.path.clone(),
                    location,
                    column: column.clone(),
                    field: field.clone(),
                    found,
                });
            }
            let text = if field == DIALOGUE {
                chat::normalize_value(value, self.speakers).map_err(|message| DataError::Chat {
                    path: self.path.clone(),
                    location,
                    field: field.clone(),
                    message,
                })?
            } else {
                value_text(value)
            };
            fields.insert(field.clone(), text);
        }
        let id = self
            .schema
            .id_column
            .as_ref()
            .map(|column| value_text(raw.fields.get(column).unwrap_or(&Value::Null)))
            .filter(|id| !id.trim().is_empty())
            .unwrap_or_else(|| format!("{}:{}", self.stem, raw.row));
        let split = match (self.split, &self.schema.split_column) {
            (SplitAssignment::Fixed(split), _) => split,
            (SplitAssignment::Seeded { .. }, Some(column)) => {
                let value = value_text(raw.fields.get(column).unwrap_or(&Value::Null));
                value.parse().map_err(|_| DataError::InvalidSplit {
                    path: self.path.clone(),
                    location,
                    column: column.clone(),
                    value,
                })?
            }
            (SplitAssignment::Seeded { spec, seed }, None) => spec.assign(&id, seed),
        };
        Ok(Record {
            id,
            split,
            location,
            fields,
        })
    }
}

/// Text of a JSON value: strings as is, null as empty, anything else as compact JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn detects_known_layouts() {
        let none = ColumnMapping::new();
        let path = Path::new("d.jsonl");
        let schema = detect(
            path,
            &columns(&["fname", "dialogue", "summary", "topic"]),
            &none,
        )
        .unwrap();
        assert_eq!(schema.kind, SchemaKind::DialogSum);
        assert_eq!(schema.id_column.as_deref(), Some("fname"));
        let schema = detect(
            path,
            &columns(&["dialogue", "summary1", "summary2", "topic1"]),
            &none,
        )
        .unwrap();
        assert_eq!(schema.kind, SchemaKind::DialogSumMulti);
        assert_eq!(schema.fields["summary"], "summary1");
        assert_eq!(schema.fields["summary2"], "summary2");
        let schema = detect(path, &columns(&["id", "dialogue", "summary"]), &none).unwrap();
        assert_eq!(schema.kind, SchemaKind::SamSum);
        let schema = detect(path, &columns(&["prompt", "response", "split"]), &none).unwrap();
        assert_eq!(schema.kind, SchemaKind::Generic);
        assert_eq!(schema.fields["target"], "response");
        assert_eq!(schema.split_column.as_deref(), Some("split"));
    }

    #[test]
    fn mapping_overrides_and_must_exist() {
        let path = Path::new("d.csv");
        let mapping: ColumnMapping = [("dialogue", "chat"), ("id", "ticket")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let schema = detect(path, &columns(&["chat", "ticket", "notes"]), &mapping).unwrap();
        assert_eq!(schema.kind, SchemaKind::Custom);
        assert_eq!(schema.id_column.as_deref(), Some("ticket"));
        let error = detect(path, &columns(&["chat"]), &mapping)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("column `ticket`") && error.contains("d.csv"),
            "{error}"
        );
        let error = detect(path, &columns(&["a", "b"]), &ColumnMapping::new()).unwrap_err();
        assert!(matches!(error, DataError::UnknownSchema { .. }));
    }
}
