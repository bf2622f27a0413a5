//! Near duplicates across a mixture: every task's training rows against every task's
//! held-out rows (its validation and test splits, and its `eval_data` file), so a dialogue
//! trained on in one task and evaluated in another (or in another split) is found.

use crate::data::near_dup::{find_between, NearDuplicates, RowRef};
use crate::data::{Record, Split};

use super::{Mixture, MixtureError};

fn row_ref(task: &str, file: &std::path::Path, record: &Record) -> RowRef {
    RowRef {
        task: Some(task.to_string()),
        file: file.to_path_buf(),
        id: record.id.clone(),
        row: record.location.row,
        line: record.location.line,
    }
}

/// Every task's training rows: input text and where it is.
pub fn train_rows(mixture: &Mixture) -> Vec<(&str, RowRef)> {
    mixture
        .tasks
        .iter()
        .flat_map(|task| {
            task.train.iter().map(|&at| {
                let record = &task.dataset.records[at];
                (
                    record.input_text(),
                    row_ref(&task.name, &task.dataset.path, record),
                )
            })
        })
        .collect()
}

/// Every task's held-out rows: its dataset's validation and test splits, plus the records of
/// its `eval_data` file when it has one.
pub fn eval_rows(mixture: &Mixture) -> Vec<(&str, RowRef)> {
    let mut rows = Vec::new();
    for (task, config) in mixture.tasks.iter().zip(&mixture.config.config.tasks) {
        for record in task.dataset.records.iter() {
            if record.split != Split::Train {
                rows.push((
                    record.input_text(),
                    row_ref(&task.name, &task.dataset.path, record),
                ));
            }
        }
        if let Some(eval_path) = mixture.config.eval_data_path(config) {
            for record in &task.validation {
                rows.push((record.input_text(), row_ref(&task.name, &eval_path, record)));
            }
        }
    }
    rows
}

/// Near duplicates between the mixture's training rows and its held-out rows at `threshold`.
pub fn near_duplicates(mixture: &Mixture, threshold: f64) -> Result<NearDuplicates, MixtureError> {
    let compared = "training rows ~ held-out rows (validation/test splits, eval_data)";
    Ok(find_between(
        compared.to_string(),
        threshold,
        &train_rows(mixture),
        &eval_rows(mixture),
    )?)
}
