//! Contamination of an evaluation file by a run's training data: the run folder's
//! `run.toml` and `mixture.toml` name what it trained on, and every row of the evaluation
//! file is checked for near duplicates among those training rows.

use std::path::{Path, PathBuf};

use crate::data::near_dup::{find_between, NearDuplicates, RowRef};
use crate::data::{self, LoadOptions, Split};
use crate::error::{MixtuneError, Result};
use crate::mixture::{config, near_dup, Mixture};

use super::run::config_folder;
use super::run_dir::{RunDir, CONFIG_FILE};
use super::TrainConfig;

/// The mixture run folder `run_dir` trained on (its copy of `mixture.toml`), with relative
/// data paths resolved where the run found them: beside the original mixture file, which
/// `run.toml` locates, else in the run folder itself.
pub fn run_mixture(run_dir: &Path) -> Result<Mixture> {
    let run_file = RunDir::new(&run_dir).config();
    if !run_file.is_file() {
        return Err(MixtuneError::Input(format!(
            "{}: not a run folder (no {CONFIG_FILE})",
            run_dir.display()
        )));
    }
    let run = TrainConfig::from_file(&run_file)?;
    let mixture_file = RunDir::new(&run_dir).mixture();
    let text =
        std::fs::read_to_string(&mixture_file).map_err(|e| MixtuneError::io(&mixture_file, e))?;
    let mut loaded = config::parse(&mixture_file, &text)?;
    let original = if run.mixture.is_absolute() {
        Some(run.mixture.clone())
    } else {
        config_folder(run_dir, &run.output_dir).map(|folder| folder.join(&run.mixture))
    };
    let mut bases: Vec<PathBuf> = original
        .iter()
        .filter_map(|path| path.parent().map(Path::to_path_buf))
        .collect();
    bases.push(loaded.base_dir.clone());
    let has_data = |base: &Path| {
        loaded
            .config
            .tasks
            .iter()
            .all(|task| base.join(&task.data).is_file())
    };
    if let Some(base) = bases.iter().find(|base| has_data(base)) {
        loaded.base_dir = base.clone();
    } else {
        let tried: Vec<String> = bases.iter().map(|b| b.display().to_string()).collect();
        return Err(MixtuneError::Input(format!(
            "{}: the training data it names is not found (looked in {})",
            mixture_file.display(),
            tried.join(", ")
        )));
    }
    Ok(Mixture::from_config(loaded)?)
}

/// Near duplicates between the first `limit` rows of `eval_file` and the training rows of
/// the run in `run_dir`, at Jaccard `threshold`.
pub fn check_run(
    run_dir: &Path,
    eval_file: &Path,
    limit: Option<usize>,
    threshold: f64,
) -> Result<NearDuplicates> {
    let mixture = run_mixture(run_dir)?;
    let options = LoadOptions {
        split: Some(Split::Test),
        ..LoadOptions::default()
    };
    let dataset = data::load(eval_file, &options)?;
    let eval_rows: Vec<(&str, RowRef)> = dataset
        .records
        .iter()
        .take(limit.unwrap_or(usize::MAX))
        .map(|record| {
            let row = RowRef {
                task: None,
                file: eval_file.to_path_buf(),
                id: record.id.clone(),
                row: record.location.row,
                line: record.location.line,
            };
            (record.input_text(), row)
        })
        .collect();
    let compared = format!(
        "training rows of {} ~ {}",
        run_dir.display(),
        eval_file.display()
    );
    Ok(find_between(
        compared,
        threshold,
        &near_dup::train_rows(&mixture),
        &eval_rows,
    )?)
}
