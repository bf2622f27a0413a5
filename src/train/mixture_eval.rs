//! Scoring a model on a mixture's validation examples outside a run (`mixtune eval --mix`):
//! every trained and `[[watch]]` task, scored as a run's validation pass scores them; two
//! models' scores give a forgetting report (`ForgettingReport::compare`).

use std::path::Path;

use burn::tensor::Device;

use super::batch::Batcher;
use super::events::EvalMetrics;
use super::validate::Validator;
use crate::device::kernel_shapes::pads_batches;
use crate::error::{MixtuneError, Result};
use crate::mixture::Mixture;
use crate::model::load_pretrained;

/// How many examples to score and how to generate.
#[derive(Debug, Clone, Copy)]
pub struct MixtureEvalOptions {
    /// Held-out examples per task (the run config's `eval_examples`).
    pub eval_examples: usize,
    /// New tokens per example (greedy).
    pub max_new_tokens: usize,
    /// Examples per forward pass.
    pub batch_size: usize,
}

/// Scores `model` (a folder or hub id) on the validation examples of every task of
/// `mixture`; `step` is left 0. Fails, naming the mixture file, when no task has any.
pub fn score_model(
    mixture: &Mixture,
    model: &str,
    device: &Device,
    options: &MixtureEvalOptions,
) -> Result<EvalMetrics> {
    let examples = mixture.validation_examples(options.eval_examples)?;
    if examples.is_empty() {
        return Err(no_rows(&mixture.config.path, options.eval_examples));
    }
    let pretrained = load_pretrained(model, device, false)?;
    let settings = &mixture.config.config.mixture;
    let validator = Validator {
        examples,
        batcher: Batcher::new(
            pretrained.tokenizer.clone(),
            settings.max_source_tokens,
            settings.max_target_tokens,
        )?,
        tokenizer: pretrained.tokenizer.clone(),
        defaults: pretrained.defaults.clone(),
        batch_size: options.batch_size,
        pad_to_batch: pads_batches(device),
        max_new_tokens: options.max_new_tokens,
        samples: 0,
        watched: mixture
            .watched
            .iter()
            .map(|task| task.name.clone())
            .collect(),
    };
    validator.run(&pretrained.model, 0)
}

fn no_rows(path: &Path, limit: usize) -> MixtuneError {
    let why = if limit == 0 {
        "--eval-examples is 0".to_string()
    } else {
        "no task or [[watch]] entry has validation rows (set eval_data, or a split with validation rows)"
            .to_string()
    };
    MixtuneError::NothingToEvaluate {
        path: path.into(),
        why,
    }
}
