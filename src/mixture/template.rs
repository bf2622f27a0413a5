//! Task templates: one TOML file per task under `templates/`, each with several FLAN-style
//! phrasings (input and target Jinja templates rendered with `minijinja`).
//!
//! ```toml
//! description = "Summarize a dialogue."
//! fields = ["dialogue", "summary"]      # every dataset of this task must provide these
//! optional_fields = []                   # may be used with `is defined`
//!
//! [[phrasing]]
//! name = "summarize-following"
//! default = true                         # the phrasing used for inference
//! input = "Summarize the following conversation.\n\n{{ dialogue }}\n\nSummary: "
//! target = "{{ summary }}"
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Deserialize;

use super::error::{line_and_column, MixtureError};

/// Environment variable that overrides where built-in templates are found.
pub const TEMPLATES_ENV: &str = "MIXTUNE_TEMPLATES";

/// The built-in template files, compiled in so an installed binary works without the
/// source tree; a file of the same name in [`builtin_dir`] takes precedence.
const EMBEDDED: [(&str, &str); 4] = [
    (
        "dialogue_summary.toml",
        include_str!("../../templates/dialogue_summary.toml"),
    ),
    (
        "dialogue_topic.toml",
        include_str!("../../templates/dialogue_topic.toml"),
    ),
    (
        "dialogue_from_summary.toml",
        include_str!("../../templates/dialogue_from_summary.toml"),
    ),
    (
        "support_request_action.toml",
        include_str!("../../templates/support_request_action.toml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    description: Option<String>,
    /// What a dataset must give for this task, in words, when `fields` alone do not say it
    /// (alternatives among `optional_fields`); shown when an example lacks what it needs.
    needs: Option<String>,
    fields: Vec<String>,
    #[serde(default)]
    optional_fields: Vec<String>,
    #[serde(default)]
    phrasing: Vec<PhrasingEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhrasingEntry {
    name: Option<String>,
    #[serde(default)]
    default: bool,
    input: toml::Spanned<String>,
    target: toml::Spanned<String>,
}

/// One way of asking for the task: an input template and a target template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phrasing {
    /// Name (from the file, or `phrasing-N`).
    pub name: String,
    /// Jinja source of the model input.
    pub input: String,
    /// Jinja source of the expected output.
    pub target: String,
    /// Line of the `input` value in the file.
    pub line: usize,
}

/// All phrasings of one task, compiled and checked against the fields the file declares.
#[derive(Debug)]
pub struct TaskTemplates {
    /// Task name: the file stem (`dialogue_summary`).
    pub name: String,
    /// The file the templates came from.
    pub path: PathBuf,
    /// What the task asks for.
    pub description: String,
    /// Fields every example must have.
    pub fields: Vec<String>,
    /// Fields phrasings may use when present.
    pub optional_fields: Vec<String>,
    /// The phrasings, in file order.
    pub phrasings: Vec<Phrasing>,
    /// What a dataset must give, in words (the file's `needs`), when the fields do not say it.
    pub needs: Option<String>,
    /// Whether it is one of Mixtune's templates (named by its name in errors, not by a path
    /// of the machine that built the binary).
    pub builtin: bool,
    default_phrasing: usize,
    environment: Environment<'static>,
}

impl TaskTemplates {
    /// Parses and compiles a template file's text; `path` is used for the name and errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, MixtureError> {
        let file: TemplateFile =
            toml::from_str(text).map_err(|error| MixtureError::toml(path, text, &error))?;
        let invalid = |message: String| MixtureError::InvalidTemplateFile {
            path: path.into(),
            message,
        };
        if file.phrasing.is_empty() {
            return Err(invalid("no [[phrasing]] entries".into()));
        }
        let defaults: Vec<usize> = file
            .phrasing
            .iter()
            .enumerate()
            .filter(|(_, phrasing)| phrasing.default)
            .map(|(index, _)| index)
            .collect();
        if defaults.len() > 1 {
            return Err(invalid(format!(
                "{} phrasings are marked `default = true`; mark at most one",
                defaults.len()
            )));
        }
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|_| AutoEscape::None);
        let syntax = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .map_err(|error| invalid(error.to_string()))?;
        environment.set_syntax(syntax);
        let declared: Vec<&String> = file.fields.iter().chain(&file.optional_fields).collect();
        let mut phrasings = Vec::with_capacity(file.phrasing.len());
        for (index, entry) in file.phrasing.into_iter().enumerate() {
            let name = entry
                .name
                .unwrap_or_else(|| format!("phrasing-{}", index + 1));
            let input_line = line_and_column(text, entry.input.span().start).0;
            for (part, source) in [("input", &entry.input), ("target", &entry.target)] {
                let key = template_key(index, part);
                let value_line = line_and_column(text, source.span().start).0;
                let file_line = |template_line: Option<usize>| {
                    let raw = &text[source.span()];
                    let multiline = raw.starts_with("\"\"\"") || raw.starts_with("'''");
                    match template_line {
                        Some(line) if multiline => value_line + line,
                        _ => value_line,
                    }
                };
                environment
                    .add_template_owned(key.clone(), source.get_ref().clone())
                    .map_err(|error| MixtureError::TemplateSyntax {
                        path: path.into(),
                        line: file_line(error.line()),
                        phrasing: name.clone(),
                        part,
                        message: error.detail().unwrap_or("invalid template").to_string(),
                    })?;
                let template = environment
                    .get_template(&key)
                    .map_err(|error| invalid(error.to_string()))?;
                let mut used: Vec<String> =
                    template.undeclared_variables(false).into_iter().collect();
                used.sort();
                if let Some(field) = used.into_iter().find(|field| !declared.contains(&field)) {
                    return Err(MixtureError::UndeclaredField {
                        path: path.into(),
                        line: value_line,
                        phrasing: name,
                        part,
                        field,
                    });
                }
            }
            phrasings.push(Phrasing {
                name,
                input: entry.input.into_inner(),
                target: entry.target.into_inner(),
                line: input_line,
            });
        }
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            name,
            path: path.into(),
            description: file.description.unwrap_or_default(),
            fields: file.fields,
            optional_fields: file.optional_fields,
            phrasings,
            needs: file.needs,
            builtin: false,
            default_phrasing: defaults.first().copied().unwrap_or(0),
            environment,
        })
    }

    /// Index of the phrasing marked `default = true` (else the first).
    pub fn default_phrasing(&self) -> usize {
        self.default_phrasing
    }

    /// Finds a phrasing by name.
    pub fn phrasing_index(&self, name: &str) -> Option<usize> {
        self.phrasings
            .iter()
            .position(|phrasing| phrasing.name == name)
    }

    /// How errors name the template: `template `support_request_action`` for a built-in
    /// one, its path for a user's file.
    pub fn label(&self) -> String {
        match self.builtin {
            true => format!("template `{}`", self.name),
            false => self.path.display().to_string(),
        }
    }

    /// Checks that a dataset with `available` fields provides every required field.
    pub fn require_fields<'a>(
        &self,
        dataset: &Path,
        available: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), MixtureError> {
        for field in &self.fields {
            if !available.clone().into_iter().any(|have| have == field) {
                return Err(MixtureError::MissingField {
                    template: self.label(),
                    dataset: dataset.into(),
                    field: field.clone(),
                    available: available.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
        }
        Ok(())
    }

    /// Renders phrasing `phrasing` for an example's fields into (source, target);
    /// `example` names the example in errors.
    pub fn render(
        &self,
        fields: &BTreeMap<String, String>,
        phrasing: usize,
        example: &str,
    ) -> Result<(String, String), MixtureError> {
        let name = self
            .phrasings
            .get(phrasing)
            .map_or_else(|| format!("#{phrasing}"), |phrasing| phrasing.name.clone());
        let error = |message: String| MixtureError::Render {
            template: self.label(),
            phrasing: name.clone(),
            example: example.to_string(),
            message,
        };
        if phrasing >= self.phrasings.len() {
            return Err(error(format!(
                "there are only {} phrasings",
                self.phrasings.len()
            )));
        }
        let context = Value::from(fields);
        let render = |part: &str| {
            let template = self
                .environment
                .get_template(&template_key(phrasing, part))
                .map_err(|failure| error(render_message(&failure)))?;
            template.render(context.clone()).map_err(|failure| {
                if failure.kind() != minijinja::ErrorKind::UndefinedError {
                    return error(render_message(&failure));
                }
                // Name the fields the phrasing uses that this example lacks, not minijinja's
                // bare "undefined value".
                let mut used: Vec<String> =
                    template.undeclared_variables(false).into_iter().collect();
                used.sort();
                let missing: Vec<String> = used
                    .into_iter()
                    .filter(|field| !fields.contains_key(field))
                    .map(|field| format!("`{field}`"))
                    .collect();
                let have: Vec<&str> = fields.keys().map(String::as_str).collect();
                let needs = self
                    .needs
                    .as_ref()
                    .map_or(String::new(), |needs| format!("; this task needs {needs}"));
                error(format!(
                    "the example has no {} (it has {}){needs}",
                    missing.join(" or "),
                    have.join(", ")
                ))
            })
        };
        Ok((render("input")?, render("target")?))
    }
}

fn template_key(phrasing: usize, part: &str) -> String {
    format!("phrasing-{phrasing}-{part}")
}

fn render_message(error: &minijinja::Error) -> String {
    match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    }
}

/// Loads one template file.
pub fn load_file(path: &Path) -> Result<TaskTemplates, MixtureError> {
    let text = fs::read_to_string(path).map_err(|source| MixtureError::io(path, source))?;
    let mut templates = TaskTemplates::parse(path, &text)?;
    // A file of the built-in folder is one of Mixtune's templates, wherever that folder is.
    templates.builtin = path.parent() == Some(builtin_dir().as_path());
    Ok(templates)
}

/// Loads the built-in template file `file_name` (e.g. `dialogue_summary.toml`): from
/// [`builtin_dir`] when it has the file, else the copy compiled into the binary.
pub fn load_builtin(file_name: &str) -> Result<TaskTemplates, MixtureError> {
    let path = builtin_dir().join(file_name);
    if path.is_file() {
        return load_file(&path);
    }
    let mut templates = match EMBEDDED.iter().find(|(name, _)| *name == file_name) {
        Some((_, text)) => TaskTemplates::parse(&path, text)?,
        None => load_file(&path)?,
    };
    templates.builtin = true;
    Ok(templates)
}

/// Every built-in template: the files of [`builtin_dir`] when it has any, else the copies
/// compiled into the binary (an installed binary away from the source tree).
pub fn load_all_builtin() -> Result<Vec<TaskTemplates>, MixtureError> {
    if let Ok(mut templates) = load_dir(&builtin_dir()) {
        if !templates.is_empty() {
            for template in &mut templates {
                template.builtin = true;
            }
            return Ok(templates);
        }
    }
    let mut templates = EMBEDDED
        .iter()
        .map(|(name, _)| load_builtin(name))
        .collect::<Result<Vec<_>, _>>()?;
    templates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(templates)
}

/// Whether `name` (without `.toml`) is a built-in template, on disk or compiled in.
pub fn is_builtin(name: &str) -> bool {
    let file = format!("{name}.toml");
    builtin_dir().join(&file).is_file() || EMBEDDED.iter().any(|(embedded, _)| *embedded == file)
}

/// Loads every `*.toml` file of a folder, sorted by task name.
pub fn load_dir(dir: &Path) -> Result<Vec<TaskTemplates>, MixtureError> {
    let entries = fs::read_dir(dir).map_err(|source| MixtureError::io(dir, source))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| MixtureError::io(dir, source))?
            .path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|path| load_file(path)).collect()
}

/// The folder of built-in templates: `$MIXTUNE_TEMPLATES`, else `templates/` beside the
/// executable, else the source tree's `templates/`.
pub fn builtin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TEMPLATES_ENV) {
        return PathBuf::from(dir);
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("templates")));
    match beside_exe {
        Some(dir) if dir.is_dir() => dir,
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
    }
}

/// Resolves a template reference: a path (contains `/` or ends in `.toml`, relative to
/// `base`) or the name of a built-in template.
pub fn resolve(reference: &str, base: &Path) -> PathBuf {
    if reference.contains(['/', '\\']) || reference.ends_with(".toml") {
        base.join(reference)
    } else {
        builtin_dir().join(format!("{reference}.toml"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = r#"
description = "Summarize"
fields = ["dialogue", "summary"]
optional_fields = ["topic"]

[[phrasing]]
name = "plain"
input = "{{ dialogue }}\n\nSummary:"
target = "{{ summary }}"

[[phrasing]]
name = "canonical"
default = true
input = """
Summarize{% if topic is defined %} ({{ topic }}){% endif %}:
{{ dialogue }}"""
target = "{{ summary }}"
"#;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_renders_phrasings() {
        let templates = TaskTemplates::parse(Path::new("t/sum.toml"), SUMMARY).unwrap();
        assert_eq!(templates.name, "sum");
        assert_eq!(templates.default_phrasing(), 1);
        let example = fields(&[("dialogue", "A: <hi> & bye"), ("summary", "S")]);
        let (source, target) = templates.render(&example, 0, "x").unwrap();
        assert_eq!(
            (source.as_str(), target.as_str()),
            ("A: <hi> & bye\n\nSummary:", "S")
        );
        let (source, _) = templates.render(&example, 1, "x").unwrap();
        assert_eq!(source, "Summarize:\nA: <hi> & bye");
        let with_topic = fields(&[("dialogue", "d"), ("summary", "s"), ("topic", "t")]);
        assert_eq!(
            templates.render(&with_topic, 1, "x").unwrap().0,
            "Summarize (t):\nd"
        );
    }

    #[test]
    fn render_reports_missing_field_and_example() {
        let templates = TaskTemplates::parse(Path::new("sum.toml"), SUMMARY).unwrap();
        let error = templates
            .render(&fields(&[("dialogue", "d")]), 0, "ex-9")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sum.toml") && error.contains("ex-9") && error.contains("plain"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_optional_field_is_named_with_what_the_task_needs() {
        let mut templates = load_builtin("support_request_action.toml").unwrap();
        let error = templates
            .render(&fields(&[("dialogue", "d"), ("summary", "s")]), 0, "dev_0")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(
                "template `support_request_action`: phrasing `request-and-action`, example `dev_0`"
            ),
            "{error}"
        );
        assert!(
            error.contains("no `action` or `request` or `target` (it has dialogue, summary)")
                && error.contains("this task needs"),
            "{error}"
        );
        assert!(
            !error.contains("undefined value") && !error.contains(".toml"),
            "{error}"
        );
        templates.builtin = false;
        let error = templates
            .render(&fields(&[("dialogue", "d")]), 0, "dev_0")
            .unwrap_err()
            .to_string();
        assert!(error.contains("support_request_action.toml"), "{error}");
    }

    #[test]
    fn syntax_error_line_is_the_file_line() {
        let text = SUMMARY.replace("({{ topic }})", "({{ topic )");
        let error = TaskTemplates::parse(Path::new("sum.toml"), &text).unwrap_err();
        match error {
            MixtureError::TemplateSyntax {
                line,
                ref phrasing,
                part,
                ..
            } => {
                assert_eq!((line, phrasing.as_str(), part), (15, "canonical", "input"));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn undeclared_field_is_rejected() {
        let text = SUMMARY.replace(
            "target = \"{{ summary }}\"\n\n[[phrasing]]",
            "target = \"{{ gist }}\"\n\n[[phrasing]]",
        );
        let error = TaskTemplates::parse(Path::new("sum.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("sum.toml:9:") && error.contains("`gist`"),
            "{error}"
        );
    }

    #[test]
    fn toml_syntax_error_has_line() {
        let text = SUMMARY.replace("name = \"plain\"", "name = plain\"");
        let error = TaskTemplates::parse(Path::new("sum.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("sum.toml:7:"), "{error}");
    }
}
