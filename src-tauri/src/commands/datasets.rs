//! Datasets: the inspect report of a file (the Open button, a typed path and a drop all land
//! here).

use std::path::PathBuf;

use mixtune::data::lengths::LengthMeasure;
use mixtune::data::report::{inspect, InspectReport, Limits};
use mixtune::data::{ColumnMapping, Format, LoadOptions, SpeakerStyle};
use mixtune::error::MixtuneError;
use serde::Deserialize;
use ts_rs::TS;

use crate::error::{blocking, CmdError, CmdResult};
use crate::state::{absolute, lock, AppState};

/// Records shown in the preview table.
pub const PREVIEW_RECORDS: usize = 20;

/// `inspect_dataset`'s optional settings.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct InspectOptions {
    #[serde(default)]
    pub format: Option<Format>,
    /// Canonical field -> column; the keys `id` and `split` name those columns.
    #[serde(default)]
    pub columns: Option<ColumnMapping>,
    /// `keep` or `person-tags` (`person_tags` accepted).
    #[serde(default)]
    #[ts(as = "Option<SpeakerStyle>")]
    pub speakers: Option<String>,
}

impl InspectOptions {
    /// The engine's load options.
    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        let speakers = match &self.speakers {
            Some(name) => name.parse::<SpeakerStyle>().map_err(CmdError::input)?,
            None => SpeakerStyle::default(),
        };
        Ok(LoadOptions {
            format: self.format,
            columns: self.columns.clone().unwrap_or_default(),
            speakers,
            ..LoadOptions::default()
        })
    }
}

/// Detects format and schema, counts rows per split, previews records, measures lengths
/// and runs the data checks. Lengths are T5 tokens (the tokenizer of the first model the app
/// knows: every T5 / Flan-T5 shares one vocabulary), compared with the training limits; with
/// no model yet, whitespace words (`length_unit` says which).
#[tauri::command]
pub async fn inspect_dataset(
    state: tauri::State<'_, AppState>,
    path: PathBuf,
    options: Option<InspectOptions>,
) -> CmdResult<InspectReport> {
    let folders = lock(&state.model_folders).clone();
    let runs_dir = state.runs_dir.clone();
    blocking(move || {
        let path = absolute(&path);
        let options = options.unwrap_or_default().load_options()?;
        let tokenizer =
            mixtune::catalog::list_models(&mixtune::catalog::hf_hub_dir(), &folders, &runs_dir)
                .into_iter()
                .map(|model| model.path.join("tokenizer.json"))
                .find(|file| file.is_file());
        let measure = LengthMeasure::new(tokenizer.as_deref())?;
        // Engine errors name the file (and line) already.
        let report = inspect(
            &path,
            &options,
            &measure,
            Limits::default(),
            PREVIEW_RECORDS,
        )
        .map_err(MixtuneError::from)?;
        Ok(report)
    })
    .await
}

/// The column names of a dataset file (its header, or its first row's keys), for mapping
/// columns by hand on the Datasets page when inspection could not tell which is which.
#[tauri::command]
pub async fn dataset_columns(path: PathBuf, format: Option<Format>) -> CmdResult<Vec<String>> {
    blocking(move || {
        let (_, columns, _) = mixtune::data::open_rows(&absolute(&path), format)?;
        Ok(columns)
    })
    .await
}
