//! Errors of templates, mixture configs and the sampler: each names the file and, where it
//! applies, the line, task, phrasing or field at fault.

use std::path::PathBuf;

use crate::data::DataError;

/// Any failure while loading templates or a mixture, sampling or rendering.
#[derive(Debug, thiserror::Error)]
pub enum MixtureError {
    /// A dataset of the mixture could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A TOML file (template or mixture config) that does not parse.
    #[error("{path}:{line}:{column}: invalid TOML: {message}")]
    TomlSyntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A template TOML file that parses but is not a valid template set.
    #[error("{path}: {message}")]
    InvalidTemplateFile { path: PathBuf, message: String },
    /// A phrasing whose Jinja source does not compile.
    #[error("{path}:{line}: phrasing `{phrasing}` ({part}): template syntax error: {message}")]
    TemplateSyntax {
        path: PathBuf,
        line: usize,
        phrasing: String,
        part: &'static str,
        message: String,
    },
    /// A phrasing that uses a field the file does not declare in `fields` / `optional_fields`.
    #[error("{path}:{line}: phrasing `{phrasing}` ({part}) uses field `{field}`, which the template file does not declare in `fields` or `optional_fields`")]
    UndeclaredField {
        path: PathBuf,
        line: usize,
        phrasing: String,
        part: &'static str,
        field: String,
    },
    /// A template needs a field the task's dataset does not provide.
    #[error("{template} needs field `{field}`, but dataset {dataset} has only: {available}; map a column to it with columns = {{ {field} = \"...\" }}")]
    MissingField {
        /// The template's label (`TaskTemplates::label`).
        template: String,
        dataset: PathBuf,
        field: String,
        available: String,
    },
    /// Rendering a phrasing for an example failed.
    #[error("{template}: phrasing `{phrasing}`, example `{example}`: {message}")]
    Render {
        /// The template's label (`TaskTemplates::label`).
        template: String,
        phrasing: String,
        example: String,
        message: String,
    },
    /// A template name that is neither a built-in template nor a file.
    #[error("{config}: {entry} `{task}`: no template `{name}` (looked for {searched})")]
    UnknownTemplate {
        config: PathBuf,
        /// `task` or `[[watch]]`.
        entry: &'static str,
        task: String,
        name: String,
        searched: String,
    },
    /// A mixture config that parses but is not valid.
    #[error("{path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    /// A task whose split has no examples to sample.
    #[error("{config}: task `{task}`: no {split} examples in {data}")]
    NoExamples {
        config: PathBuf,
        task: String,
        split: String,
        data: PathBuf,
    },
    /// A `[[watch]]` task without rows to score it on.
    #[error("{config}: [[watch]] `{watch}`: no evaluation rows in {data}; set eval_data, or split = \"validation\" to score the whole file")]
    NoWatchRows {
        config: PathBuf,
        watch: String,
        data: PathBuf,
    },
    /// A saved sampler state that belongs to a different mixture.
    #[error("sampler state does not match this mixture: {message}")]
    StateMismatch { message: String },
    /// The tokenizer that measures lengths cannot be loaded or used.
    #[error(transparent)]
    Tokenizer(#[from] crate::data::TokenizerError),
}

impl MixtureError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error: source,
        }
    }

    /// A TOML parse error of `path`, located by line and column.
    pub fn toml(path: impl Into<PathBuf>, text: &str, error: &toml::de::Error) -> Self {
        let (line, column) = toml_position(text, error);
        Self::TomlSyntax {
            path: path.into(),
            line,
            column,
            message: error.message().trim().to_string(),
        }
    }
}

/// Where in `text` a TOML error is: 1-based line and column (1, 1 when it has no span).
pub fn toml_position(text: &str, error: &toml::de::Error) -> (usize, usize) {
    error
        .span()
        .map_or((1, 1), |span| line_and_column(text, span.start))
}

/// A TOML error of `text` as `line L, column C: message`.
pub fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let (line, column) = toml_position(text, error);
    format!("line {line}, column {column}: {}", error.message().trim())
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |at| at + 1);
    (line, offset.min(text.len()) - line_start + 1)
}
