//! Templates and mixes: the built-in task templates, and the preview of a mix the UI builds.
//! A mix arrives as the mixture TOML in JSON (`MixSpec`); the shell writes it to a TOML file
//! (and any edited phrasings to template files beside it) and hands that to the engine.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use mixtune::data::lengths::LengthMeasure;
use mixtune::error::MixtuneError;
use mixtune::mixture::template::{self, TaskTemplates};
use mixtune::mixture::{preview, Mixture, MixtureConfig, MixturePreview};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::error::{blocking, CmdError, CmdResult};

/// Samples drawn to measure task shares and lengths (as `mixtune mix preview`).
pub const PREVIEW_SAMPLES: usize = 2000;

/// One phrasing as the UI shows and edits it (the engine's `Phrasing` calls `source` `input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PhrasingInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The input template.
    pub source: String,
    pub target: String,
}

/// A task template file.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TemplateInfo {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub fields: Vec<String>,
    pub phrasings: Vec<PhrasingInfo>,
}

impl From<&TaskTemplates> for TemplateInfo {
    fn from(t: &TaskTemplates) -> Self {
        Self {
            name: t.name.clone(),
            file: t.path.clone(),
            description: t.description.clone(),
            fields: t.fields.clone(),
            phrasings: t
                .phrasings
                .iter()
                .map(|p| PhrasingInfo {
                    name: Some(p.name.clone()),
                    source: p.input.clone(),
                    target: p.target.clone(),
                })
                .collect(),
        }
    }
}

/// The built-in templates (`templates/`, or the copies compiled into the engine).
#[tauri::command]
pub async fn list_templates() -> CmdResult<Vec<TemplateInfo>> {
    blocking(|| {
        let templates = template::load_all_builtin().map_err(MixtuneError::from)?;
        Ok(templates.iter().map(TemplateInfo::from).collect())
    })
    .await
}

/// Rates, shares, rendered phrasings, lengths (in words) and data checks of a mix.
#[tauri::command]
pub async fn preview_mix(mix: Value) -> CmdResult<MixturePreview> {
    blocking(move || {
        let dir = tempfile::tempdir().context("creating a temporary folder")?;
        let path = write_mix(mix, dir.path())?;
        let mixture = Mixture::load(&path).map_err(MixtuneError::from)?;
        let measure = LengthMeasure::new(None)?;
        let preview = preview(&mixture, &*measure.count, measure.unit, PREVIEW_SAMPLES)
            .map_err(MixtuneError::from)?;
        Ok(preview)
    })
    .await
}

/// Writes a `MixSpec` as `<dir>/mix.toml` (edited phrasings as `<dir>/templates/<task>.toml`)
/// and returns the TOML's path. Accepts `rate` for `weight`; `null` values mean "not set".
pub fn write_mix(mut spec: Value, dir: &Path) -> anyhow::Result<PathBuf> {
    strip_nulls(&mut spec);
    if let Some(tasks) = spec.get_mut("task").and_then(Value::as_array_mut) {
        for task in tasks {
            let Some(task) = task.as_object_mut() else {
                bail!(CmdError::input("every task of the mix must be an object"));
            };
            if let Some(rate) = task.remove("rate") {
                task.entry("weight").or_insert(rate);
            }
            if let Some(phrasings) = task.remove("phrasings") {
                let phrasings: Vec<PhrasingInfo> = serde_json::from_value(phrasings).context(
                    CmdError::input("a task's `phrasings` must be [{ source, target }]"),
                )?;
                let name = task.get("name").and_then(Value::as_str).unwrap_or("task");
                let base = task.get("template").and_then(Value::as_str).unwrap_or("");
                let file = write_template(dir, name, base, &phrasings)
                    .with_context(|| format!("task `{name}`: writing its edited phrasings"))?;
                task.insert("template".into(), Value::String(file.display().to_string()));
            }
        }
    }
    let config: MixtureConfig = serde_json::from_value(spec)
        .context(CmdError::input("the mix is not a valid mixture config"))?;
    let text = toml::to_string(&config).context("writing the mix as TOML")?;
    let path = dir.join("mix.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A template file with `base`'s description and fields and the given phrasings.
fn write_template(
    dir: &Path,
    task: &str,
    base: &str,
    phrasings: &[PhrasingInfo],
) -> anyhow::Result<PathBuf> {
    #[derive(Serialize)]
    struct File<'a> {
        description: &'a str,
        fields: &'a [String],
        optional_fields: &'a [String],
        phrasing: Vec<Entry<'a>>,
    }
    #[derive(Serialize)]
    struct Entry<'a> {
        name: String,
        default: bool,
        input: &'a str,
        target: &'a str,
    }
    if phrasings.is_empty() {
        bail!(CmdError::input("a task needs at least one phrasing"));
    }
    let base = load_template(base, dir)?;
    let file = File {
        description: &base.description,
        fields: &base.fields,
        optional_fields: &base.optional_fields,
        phrasing: phrasings
            .iter()
            .enumerate()
            .map(|(i, p)| Entry {
                name: p
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("phrasing-{}", i + 1)),
                default: i == 0,
                input: &p.source,
                target: &p.target,
            })
            .collect(),
    };
    let safe: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let folder = dir.join("templates");
    std::fs::create_dir_all(&folder)?;
    let path = folder.join(format!("{safe}.toml"));
    std::fs::write(&path, toml::to_string(&file)?)?;
    // Fail here, naming the phrasing, rather than later in the mixture.
    template::load_file(&path).map_err(MixtuneError::from)?;
    Ok(path)
}

/// A template by built-in name or path.
fn load_template(reference: &str, base: &Path) -> anyhow::Result<TaskTemplates> {
    let loaded = if reference.contains(['/', '\\']) || reference.ends_with(".toml") {
        template::load_file(&template::resolve(reference, base))
    } else {
        template::load_builtin(&format!("{reference}.toml"))
    };
    Ok(loaded.map_err(MixtuneError::from)?)
}

/// Removes `null` members of objects (TOML has no null; the engine's defaults apply).
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spec_becomes_a_mixture_toml_with_edited_phrasings() {
        let dir = tempfile::tempdir().unwrap();
        let spec = json!({
            "mixture": { "strategy": "proportional", "seed": 3, "cap": null,
                         "max_source_tokens": 256, "max_target_tokens": 64 },
            "task": [
                { "name": "sum", "data": "/data/a.jsonl", "template": "dialogue_summary", "rate": 2.0 },
                { "name": "topic", "data": "/data/a.jsonl", "template": "dialogue_topic",
                  "phrasings": [{ "source": "Topic of {{ dialogue }}?", "target": "{{ topic }}" }] }
            ]
        });
        let path = write_mix(spec, dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let config: MixtureConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.mixture.seed, 3);
        assert_eq!(config.tasks[0].weight, Some(2.0));
        let edited = PathBuf::from(&config.tasks[1].template);
        assert!(
            edited.ends_with("templates/topic.toml"),
            "{}",
            edited.display()
        );
        let templates = template::load_file(&edited).unwrap();
        assert_eq!(templates.phrasings.len(), 1);
        assert_eq!(templates.fields, ["dialogue", "topic"]);
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let error =
            write_mix(json!({ "mixture": { "bogus": 1 }, "task": [] }), dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains("bogus"), "{error:#}");
        assert_eq!(
            crate::error::kind_of(&error),
            crate::error::ErrorKind::Input
        );
    }
}
