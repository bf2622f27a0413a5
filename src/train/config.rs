//! The training run's settings, read from TOML.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schedule::{LrSchedule, ScheduleKind};
use crate::error::{MixtuneError, Result};
use crate::mixture::error::toml_message;

/// The most examples one optimizer step may take (`batch_size` × `grad_accumulation`): far
/// beyond what fits a GPU, and low enough that sizes derived from it never overflow.
pub const MAX_BATCH: usize = 65_536;
/// Settings of one training run (`run.toml`). Unknown keys are rejected; every key but
/// `model`, `mixture`, `output_dir` and one of `max_steps` / `epochs` has the default of
/// [`TrainConfig::default`], written once there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Model to start from: a folder with `config.json` or a hub id like `google/flan-t5-base`.
    pub model: String,
    /// Path of the mixture TOML giving the training examples.
    pub mixture: PathBuf,
    /// Folder for checkpoints, logs and the final model.
    pub output_dir: PathBuf,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed (each loss divided by this) per optimizer step.
    pub grad_accumulation: usize,
    /// Number of optimizer steps (or give `epochs`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_steps: usize,
    /// Passes over the mixture's training examples, instead of `max_steps` (may be fractional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<f64>,
    /// `full` fine-tuning or `lora` adapters (see `[lora]`).
    pub method: Method,
    /// LoRA settings, used when `method = "lora"`.
    pub lora: LoraSettings,
    /// `adamw` (PyTorch defaults) or `adafactor` (T5's own).
    pub optimizer: OptimizerKind,
    /// Peak learning rate (after warmup).
    pub learning_rate: f64,
    /// Learning-rate shape after warmup: `constant`, `linear` or `cosine`.
    pub schedule: ScheduleKind,
    /// Optimizer steps of linear warmup from 0.
    pub warmup_steps: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW beta 1.
    pub adam_beta1: f64,
    /// AdamW beta 2.
    pub adam_beta2: f64,
    /// AdamW epsilon (PyTorch's default 1e-8, not Burn's 1e-5).
    pub adam_epsilon: f64,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub max_grad_norm: f64,
    /// T5's dropout while training (HF's `dropout_rate`, 0.1 in Flan-T5's `config.json`),
    /// everywhere HF applies it; 0 (the default) trains without.
    pub dropout_rate: f64,
    /// Seed for the run's randomness (device generator, mixture sampling), applied by the caller.
    pub seed: u64,
    /// Ignored: every step emits its `step` event. Still accepted, so configs that set it
    /// load; never written back.
    #[serde(skip_serializing)]
    #[ts(skip)]
    pub log_every: Option<usize>,
    /// Adafactor: scale the step by the parameter's RMS (HF `scale_parameter`).
    pub adafactor_scale_parameter: bool,
    /// Adafactor: cap the rate by `1/sqrt(step)` (HF `relative_step`); off uses the schedule.
    pub adafactor_relative_step: bool,
    /// Validate every this many steps (0: only at the end when validation data exists).
    pub eval_every: usize,
    /// Also validate before the first step (the baseline point of the charts; it does not
    /// count for best checkpoint or early stopping).
    pub eval_at_start: bool,
    /// Held-out examples per task for validation loss and ROUGE.
    pub eval_examples: usize,
    /// New tokens generated per validation example (greedy).
    pub eval_max_new_tokens: usize,
    /// Predictions shown with each validation pass.
    pub sample_predictions: usize,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub save_every: usize,
    /// Keep this many most recent checkpoints (0 keeps all).
    pub keep_last: usize,
    /// Also keep the checkpoint with the best `best_metric`.
    pub keep_best: bool,
    /// `val_loss` (lower is better), or `rouge1`/`rouge2`/`rougeL`/`rougeLsum` (mean over
    /// tasks) or `TASK/rouge1` etc. (higher is better).
    pub best_metric: String,
    /// Stop after this many validation passes without improvement (0: never).
    pub early_stopping_patience: usize,
    /// Improvement smaller than this does not count for early stopping.
    pub early_stopping_threshold: f64,
    /// The forgetting report flags a task (trained or `[[watch]]`) whose ROUGE-L fell by
    /// more than this (absolute) since the baseline pass.
    pub forgetting_threshold: f64,
    /// `f32` (the default) or `f16`: f16 compute over f32 master weights with dynamic loss
    /// scaling (see `model/precision.rs`, `train/loss_scale.rs`). No bf16 (the wgpu path has
    /// none).
    pub precision: crate::model::Precision,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// How the model is adapted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every weight is trained.
    #[default]
    Full,
    /// Low-rank adapters on `lora.target_modules`; the base stays frozen.
    Lora,
}

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW with PyTorch's defaults (eps 1e-8, weight decay 0.01).
    #[default]
    Adamw,
    /// Adafactor (factored second moments, no first moment), as T5 was trained.
    Adafactor,
}

/// LoRA adapter settings (PEFT's `LoraConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSettings {
    /// Rank `r` of the update.
    pub rank: usize,
    /// Scale numerator: the update is `alpha / rank · A·B`.
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    pub dropout: f64,
    /// T5 module names to adapt: `q`, `k`, `v`, `o` (attention), `wi`, `wi_0`, `wi_1`, `wo`.
    pub target_modules: Vec<String>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: vec!["q".into(), "v".into()],
        }
    }
}

/// Module names LoRA can target.
pub const LORA_MODULES: [&str; 8] = ["q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"];

impl Default for TrainConfig {
    /// Every default; `model`, `mixture`, `output_dir` and `max_steps` are left empty.
    fn default() -> Self {
        Self {
            model: String::new(),
            mixture: PathBuf::new(),
            output_dir: PathBuf::new(),
            batch_size: 8,
            grad_accumulation: 1,
            max_steps: 0,
            epochs: None,
            method: Method::Full,
            lora: LoraSettings::default(),
            optimizer: OptimizerKind::Adamw,
            learning_rate: 3e-4,
            schedule: ScheduleKind::default(),
            warmup_steps: 0,
            weight_decay: 0.01,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            dropout_rate: 0.0,
            seed: 42,
            log_every: None,
            adafactor_scale_parameter: false,
            adafactor_relative_step: false,
            eval_every: 0,
            eval_at_start: false,
            eval_examples: 32,
            eval_max_new_tokens: 64,
            sample_predictions: 3,
            save_every: 0,
            keep_last: 2,
            keep_best: true,
            best_metric: "val_loss".into(),
            early_stopping_patience: 0,
            early_stopping_threshold: 0.0,
            forgetting_threshold: crate::train::forgetting::DEFAULT_FORGETTING_THRESHOLD,
            precision: crate::model::Precision::F32,
        }
    }
}

impl TrainConfig {
    /// A config with the given required fields and every default.
    pub fn new(model: impl Into<String>, mixture: impl Into<PathBuf>, max_steps: usize) -> Self {
        Self {
            model: model.into(),
            mixture: mixture.into(),
            output_dir: PathBuf::from("output"),
            max_steps,
            ..Self::default()
        }
    }

    /// The LoRA settings when the run trains adapters (`None`: full fine-tuning).
    pub fn lora_settings(&self) -> Option<&LoraSettings> {
        (self.method == Method::Lora).then_some(&self.lora)
    }

    /// Reads and validates `path`; errors name the file, and the line for syntax errors.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MixtuneError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML `text` read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|error| MixtuneError::Config {
            path: path.to_path_buf(),
            message: toml_message(text, &error),
        })?;
        config.validate().map_err(|message| MixtuneError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks value ranges; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.validate_sizes()?;
        self.validate_optimizer()?;
        self.validate_length()?;
        self.validate_lora()?;
        self.validate_metrics()?;
        if !(self.adam_epsilon.is_finite() && self.adam_epsilon > 0.0) {
            return Err(format!(
                "`adam_epsilon` must be positive, got {}",
                self.adam_epsilon
            ));
        }
        Ok(())
    }

    /// The required paths, the precision, and the batch sizes within their bounds.
    fn validate_sizes(&self) -> std::result::Result<(), String> {
        let required = [
            ("model", self.model.is_empty()),
            ("mixture", self.mixture.as_os_str().is_empty()),
            ("output_dir", self.output_dir.as_os_str().is_empty()),
        ];
        if let Some((key, _)) = required.iter().find(|(_, missing)| *missing) {
            return Err(format!("`{key}` is required"));
        }
        if self.precision == crate::model::Precision::Int8 {
            return Err(
                "`precision = \"int8\"` is for inference on the CPU (generate, \
                        summarize, eval --dtype int8); train in \"f32\" or \"f16\""
                    .into(),
            );
        }
        let positive = [
            ("batch_size", self.batch_size),
            ("grad_accumulation", self.grad_accumulation),
            ("eval_max_new_tokens", self.eval_max_new_tokens),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("`{key}` must be at least 1"));
            }
        }
        // Upper bounds, so an absurd value is named here instead of aborting the process
        // with a failed allocation once the model is loaded.
        let bounded = [
            ("batch_size", self.batch_size, MAX_BATCH),
            ("grad_accumulation", self.grad_accumulation, MAX_BATCH),
            (
                "eval_max_new_tokens",
                self.eval_max_new_tokens,
                crate::data::lengths::MAX_TOKENS,
            ),
        ];
        for (key, value, most) in bounded {
            if value > most {
                return Err(format!("`{key}` = {value} is above the most, {most}"));
            }
        }
        let per_step = self.batch_size.saturating_mul(self.grad_accumulation);
        if per_step > MAX_BATCH {
            return Err(format!(
                "`batch_size` × `grad_accumulation` = {per_step} examples per optimizer step is above the most, {MAX_BATCH}"
            ));
        }
        Ok(())
    }

    /// The learning rate, Adam's betas, weight decay and clipping.
    fn validate_optimizer(&self) -> std::result::Result<(), String> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "`learning_rate` must be positive, got {}",
                self.learning_rate
            ));
        }
        for (key, value) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
            ("dropout_rate", self.dropout_rate),
        ] {
            if !(0.0..1.0).contains(&value) {
                return Err(format!("`{key}` must be in [0, 1), got {value}"));
            }
        }
        for (key, value) in [
            ("weight_decay", self.weight_decay),
            ("max_grad_norm", self.max_grad_norm),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("`{key}` must be 0 or more, got {value}"));
            }
        }
        Ok(())
    }

    /// `max_steps` or `epochs`, one of them.
    fn validate_length(&self) -> std::result::Result<(), String> {
        match (self.max_steps, self.epochs) {
            (0, None) => return Err("give `max_steps` or `epochs`".into()),
            (n, Some(_)) if n > 0 => {
                return Err("give either `max_steps` or `epochs`, not both".into())
            }
            (_, Some(epochs)) if !(epochs.is_finite() && epochs > 0.0) => {
                return Err(format!("`epochs` must be positive, got {epochs}"))
            }
            _ => {}
        }
        Ok(())
    }

    /// The LoRA settings, when the method is LoRA.
    fn validate_lora(&self) -> std::result::Result<(), String> {
        if self.method == Method::Lora {
            let lora = &self.lora;
            if lora.rank == 0 {
                return Err("`lora.rank` must be at least 1".into());
            }
            if !(lora.alpha.is_finite() && lora.alpha > 0.0) {
                return Err(format!("`lora.alpha` must be positive, got {}", lora.alpha));
            }
            if !(0.0..1.0).contains(&lora.dropout) {
                return Err(format!(
                    "`lora.dropout` must be in [0, 1), got {}",
                    lora.dropout
                ));
            }
            if lora.target_modules.is_empty() {
                return Err("`lora.target_modules` is empty".into());
            }
            if let Some(bad) = lora
                .target_modules
                .iter()
                .find(|m| !LORA_MODULES.contains(&m.as_str()))
            {
                return Err(format!(
                    "`lora.target_modules`: unknown module `{bad}` (expected one of {})",
                    LORA_MODULES.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The best-model metric and the early-stopping and forgetting thresholds.
    fn validate_metrics(&self) -> std::result::Result<(), String> {
        if !crate::train::metric::is_valid_metric(&self.best_metric) {
            return Err(format!(
                "`best_metric` `{}`: expected val_loss, rouge1, rouge2, rougeL, rougeLsum or TASK/<one of those>",
                self.best_metric
            ));
        }
        if !(self.early_stopping_threshold.is_finite() && self.early_stopping_threshold >= 0.0) {
            return Err("`early_stopping_threshold` must be 0 or more".into());
        }
        if !(self.forgetting_threshold.is_finite() && self.forgetting_threshold >= 0.0) {
            return Err(format!(
                "`forgetting_threshold` must be 0 or more (absolute ROUGE-L), got {}",
                self.forgetting_threshold
            ));
        }
        Ok(())
    }

    /// Examples one optimizer step consumes.
    pub fn examples_per_step(&self) -> usize {
        self.batch_size * self.grad_accumulation
    }

    /// Optimizer steps of the run: `max_steps`, or `epochs` over `train_examples`
    /// (rounded up, at least 1).
    pub fn total_steps(&self, train_examples: usize) -> usize {
        match self.epochs {
            Some(epochs) => {
                let steps = epochs * train_examples as f64 / self.examples_per_step() as f64;
                (steps.ceil() as usize).max(1)
            }
            None => self.max_steps,
        }
    }

    /// The learning-rate schedule over `total_steps`.
    pub fn lr_schedule(&self, total_steps: usize) -> LrSchedule {
        LrSchedule {
            kind: self.schedule,
            warmup_steps: self.warmup_steps,
            total_steps,
            peak_lr: self.learning_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "model = \"google/flan-t5-small\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nmax_steps = 100\n";

    #[test]
    fn defaults() {
        let c = TrainConfig::parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(c.batch_size, 8);
        assert_eq!(c.grad_accumulation, 1);
        assert_eq!(c.learning_rate, 3e-4);
        assert_eq!(c.schedule, ScheduleKind::Linear);
        assert_eq!(c.warmup_steps, 0);
        assert_eq!(c.weight_decay, 0.01);
        assert_eq!((c.adam_beta1, c.adam_beta2), (0.9, 0.999));
        assert_eq!(c.adam_epsilon, 1e-8);
        assert_eq!(c.max_grad_norm, 1.0);
        // `log_every` is ignored but still read, so older configs load.
        assert!(TrainConfig::parse(
            Path::new("old.toml"),
            "model = \"m\"\nmixture = \"x.toml\"\noutput_dir = \"o\"\nmax_steps = 1\nlog_every = 5\n"
        )
        .is_ok());
        let mut expected = TrainConfig::new("google/flan-t5-small", "mix.toml", 100);
        expected.output_dir = "out".into();
        assert_eq!(c, expected);
    }

    #[test]
    fn full_round_trip() {
        let text =
            format!("{MINIMAL}schedule = \"cosine\"\nwarmup_steps = 10\nmax_grad_norm = 0.0\n");
        let c = TrainConfig::parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(c.schedule, ScheduleKind::Cosine);
        let s = c.lr_schedule(c.total_steps(0));
        assert_eq!((s.warmup_steps, s.total_steps, s.peak_lr), (10, 100, 3e-4));
        let again = TrainConfig::parse(Path::new("t.toml"), &toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = format!("{MINIMAL}lerning_rate = 1e-3\n");
        let err = TrainConfig::parse(Path::new("run/train.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run/train.toml"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("lerning_rate"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for extra in [
            "batch_size = 0",
            "learning_rate = -1.0",
            "adam_beta2 = 1.0",
            "max_grad_norm = -1.0",
            "schedule = \"step\"",
            "epochs = 2.0",
            "method = \"lora\"\n[lora]\nrank = 0",
            "method = \"lora\"\n[lora]\ntarget_modules = [\"query\"]",
            "best_metric = \"bleu\"",
            "optimizer = \"sgd\"",
            "precision = \"bf16\"",
            "precision = \"int8\"",
            "dropout_rate = 1.0",
            "dropout_rate = -0.1",
        ] {
            let text = format!("{MINIMAL}{extra}\n");
            assert!(
                TrainConfig::parse(Path::new("t.toml"), &text).is_err(),
                "{extra}"
            );
        }
    }

    #[test]
    fn dropout_defaults_to_off_and_a_bad_rate_names_the_field() {
        let c = TrainConfig::parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(c.dropout_rate, 0.0);
        let text = format!("{MINIMAL}dropout_rate = 0.1\n");
        let c = TrainConfig::parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(c.dropout_rate, 0.1);
        let text = format!("{MINIMAL}dropout_rate = 1.5\n");
        let err = TrainConfig::parse(Path::new("t.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dropout_rate") && err.contains("[0, 1)"),
            "{err}"
        );
    }

    #[test]
    fn precision_defaults_to_f32_and_bf16_names_file_and_field() {
        let c = TrainConfig::parse(Path::new("t.toml"), MINIMAL).unwrap();
        assert_eq!(c.precision, crate::model::Precision::F32);
        let text = format!("{MINIMAL}precision = \"f16\"\n");
        let c = TrainConfig::parse(Path::new("t.toml"), &text).unwrap();
        assert_eq!(c.precision, crate::model::Precision::F16);
        let text = format!("{MINIMAL}precision = \"bf16\"\n");
        let err = TrainConfig::parse(Path::new("run/run.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run/run.toml"), "{err}");
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("precision") && err.contains("bf16"), "{err}");
    }

    #[test]
    fn missing_file_names_it() {
        let err = TrainConfig::from_file(Path::new("/nonexistent/train.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/train.toml"), "{err}");
    }
}
