//! The training run's settings, read from TOML.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schedule::{LrSchedule, ScheduleKind};
use crate::error::{MixtuneError, Result};
use crate::mixture::error::line_and_column;

/// Settings of one training run (`train.toml`). Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model to start from: a folder with `config.json` or a hub id like `google/flan-t5-base`.
    pub model: String,
    /// Path of the mixture TOML giving the training examples.
    pub mixture: PathBuf,
    /// Folder for checkpoints, logs and the final model.
    pub output_dir: PathBuf,
    /// Examples per micro-batch.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed (each loss divided by this) per optimizer step.
    #[serde(default = "defaults::grad_accumulation")]
    pub grad_accumulation: usize,
    /// Number of optimizer steps.
    pub max_steps: usize,
    /// Peak learning rate (after warmup).
    #[serde(default = "defaults::learning_rate")]
    pub learning_rate: f64,
    /// Learning-rate shape after warmup: `constant`, `linear` or `cosine`.
    #[serde(default)]
    pub schedule: ScheduleKind,
    /// Optimizer steps of linear warmup from 0.
    #[serde(default)]
    pub warmup_steps: usize,
    /// AdamW decoupled weight decay.
    #[serde(default = "defaults::weight_decay")]
    pub weight_decay: f64,
    /// AdamW beta 1.
    #[serde(default = "defaults::adam_beta1")]
    pub adam_beta1: f64,
    /// AdamW beta 2.
    #[serde(default = "defaults::adam_beta2")]
    pub adam_beta2: f64,
    /// AdamW epsilon (PyTorch's default 1e-8, not Burn's 1e-5).
    #[serde(default = "defaults::adam_epsilon")]
    pub adam_epsilon: f64,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    #[serde(default = "defaults::max_grad_norm")]
    pub max_grad_norm: f64,
    /// Seed for the run's randomness (device generator, mixture sampling), applied by the caller.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Report metrics every this many optimizer steps.
    #[serde(default = "defaults::log_every")]
    pub log_every: usize,
}

mod defaults {
    pub fn batch_size() -> usize {
        8
    }
    pub fn grad_accumulation() -> usize {
        1
    }
    pub fn learning_rate() -> f64 {
        3e-4
    }
    pub fn weight_decay() -> f64 {
        0.01
    }
    pub fn adam_beta1() -> f64 {
        0.9
    }
    pub fn adam_beta2() -> f64 {
        0.999
    }
    pub fn adam_epsilon() -> f64 {
        1e-8
    }
    pub fn max_grad_norm() -> f64 {
        1.0
    }
    pub fn seed() -> u64 {
        42
    }
    pub fn log_every() -> usize {
        10
    }
}

impl TrainConfig {
    /// A config with the given required fields and every default.
    pub fn new(model: impl Into<String>, mixture: impl Into<PathBuf>, max_steps: usize) -> Self {
        Self {
            model: model.into(),
            mixture: mixture.into(),
            output_dir: PathBuf::from("output"),
            batch_size: defaults::batch_size(),
            grad_accumulation: defaults::grad_accumulation(),
            max_steps,
            learning_rate: defaults::learning_rate(),
            schedule: ScheduleKind::default(),
            warmup_steps: 0,
            weight_decay: defaults::weight_decay(),
            adam_beta1: defaults::adam_beta1(),
            adam_beta2: defaults::adam_beta2(),
            adam_epsilon: defaults::adam_epsilon(),
            max_grad_norm: defaults::max_grad_norm(),
            seed: defaults::seed(),
            log_every: defaults::log_every(),
        }
    }

    /// Reads and validates `path`; errors name the file, and the line for syntax errors.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MixtuneError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses and validates TOML `text` read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|error| {
            let (line, column) = error
                .span()
                .map_or((1, 1), |span| line_and_column(text, span.start));
            MixtuneError::Config {
                path: path.to_path_buf(),
                message: format!("line {line}, column {column}: {}", error.message().trim()),
            }
        })?;
        config.validate().map_err(|message| MixtuneError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks value ranges; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("batch_size", self.batch_size),
            ("grad_accumulation", self.grad_accumulation),
            ("max_steps", self.max_steps),
            ("log_every", self.log_every),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("`{key}` must be at least 1"));
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "`learning_rate` must be positive, got {}",
                self.learning_rate
            ));
        }
        for (key, value) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
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
        if !(self.adam_epsilon.is_finite() && self.adam_epsilon > 0.0) {
            return Err(format!(
                "`adam_epsilon` must be positive, got {}",
                self.adam_epsilon
            ));
        }
        Ok(())
    }

    /// The learning-rate schedule over `max_steps`.
    pub fn lr_schedule(&self) -> LrSchedule {
        LrSchedule {
            kind: self.schedule,
            warmup_steps: self.warmup_steps,
            total_steps: self.max_steps,
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
        assert_eq!(c.log_every, 10);
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
        let s = c.lr_schedule();
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
        ] {
            let text = format!("{MINIMAL}{extra}\n");
            assert!(
                TrainConfig::parse(Path::new("t.toml"), &text).is_err(),
                "{extra}"
            );
        }
    }

    #[test]
    fn missing_file_names_it() {
        let err = TrainConfig::from_file(Path::new("/nonexistent/train.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/train.toml"), "{err}");
    }
}
