//! Learning-rate schedules with linear warmup, matching HF transformers'
//! `get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup` and
//! `get_cosine_schedule_with_warmup` (`num_cycles = 0.5`).

use serde::{Deserialize, Serialize};

/// Shape of the schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Peak rate after warmup.
    Constant,
    /// Linear decay from the peak to 0 at `total_steps`.
    #[default]
    Linear,
    /// Half a cosine from the peak to 0 at `total_steps`.
    Cosine,
}

/// A learning-rate schedule: `lr(step) = peak_lr * lambda(step)`, step counted from 0 as
/// PyTorch's `LambdaLR` (step `s` is the rate of the `s`-th optimizer update).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    /// Shape after warmup.
    pub kind: ScheduleKind,
    /// Steps of linear warmup from 0 to `peak_lr`.
    pub warmup_steps: usize,
    /// Total optimizer steps (where linear and cosine reach 0).
    pub total_steps: usize,
    /// Rate at the end of warmup.
    pub peak_lr: f64,
}

impl LrSchedule {
    /// The multiplier of `peak_lr` at `step` (HF's `lr_lambda`).
    pub fn lambda(&self, step: usize) -> f64 {
        let step_f = step as f64;
        if step < self.warmup_steps {
            return step_f / self.warmup_steps.max(1) as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => {
                let remaining = self.total_steps as f64 - step_f;
                (remaining / decay_steps).max(0.0)
            }
            ScheduleKind::Cosine => {
                let progress = (step_f - self.warmup_steps as f64) / decay_steps;
                let num_cycles = 0.5;
                (0.5 * (1.0 + (std::f64::consts::PI * num_cycles * 2.0 * progress).cos())).max(0.0)
            }
        }
    }

    /// The learning rate of the update at `step` (from 0).
    pub fn lr_at(&self, step: usize) -> f64 {
        self.peak_lr * self.lambda(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind, warmup_steps: usize, total_steps: usize) -> LrSchedule {
        LrSchedule {
            kind,
            warmup_steps,
            total_steps,
            peak_lr: 1e-3,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-15, "{a} vs {b}");
    }

    #[test]
    fn constant_with_warmup() {
        let s = schedule(ScheduleKind::Constant, 4, 10);
        close(s.lr_at(0), 0.0);
        close(s.lr_at(1), 0.25e-3);
        close(s.lr_at(3), 0.75e-3);
        close(s.lr_at(4), 1e-3);
        close(s.lr_at(10), 1e-3);
        close(s.lr_at(100), 1e-3);
    }

    #[test]
    fn constant_without_warmup_starts_at_peak() {
        let s = schedule(ScheduleKind::Constant, 0, 10);
        close(s.lr_at(0), 1e-3);
    }

    #[test]
    fn linear_with_warmup() {
        // warmup 2, total 10: 0, 0.5, then (10 - s) / 8.
        let s = schedule(ScheduleKind::Linear, 2, 10);
        close(s.lr_at(0), 0.0);
        close(s.lr_at(1), 0.5e-3);
        close(s.lr_at(2), 1e-3);
        close(s.lr_at(3), 1e-3 * 7.0 / 8.0);
        close(s.lr_at(6), 0.5e-3);
        close(s.lr_at(9), 1e-3 / 8.0);
        close(s.lr_at(10), 0.0);
        close(s.lr_at(12), 0.0);
    }

    #[test]
    fn linear_without_warmup() {
        let s = schedule(ScheduleKind::Linear, 0, 4);
        close(s.lr_at(0), 1e-3);
        close(s.lr_at(1), 0.75e-3);
        close(s.lr_at(3), 0.25e-3);
        close(s.lr_at(4), 0.0);
    }

    #[test]
    fn cosine_with_warmup() {
        // warmup 2, total 6: progress (s - 2) / 4, lambda 0.5 (1 + cos(pi progress)).
        let s = schedule(ScheduleKind::Cosine, 2, 6);
        close(s.lr_at(0), 0.0);
        close(s.lr_at(1), 0.5e-3);
        close(s.lr_at(2), 1e-3);
        let q = 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2);
        close(s.lr_at(3), 1e-3 * q);
        close(s.lr_at(4), 0.5e-3);
        close(s.lr_at(5), 1e-3 * (1.0 - q));
        close(s.lr_at(6), 0.0);
        // Past the end HF's cosine comes back up (cos(pi * 1.5) = 0): 0.5.
        close(s.lr_at(8), 0.5e-3);
    }

    #[test]
    fn warmup_longer_than_total_does_not_divide_by_zero() {
        let s = schedule(ScheduleKind::Linear, 5, 5);
        close(s.lr_at(4), 0.8e-3);
        close(s.lr_at(5), 0.0);
    }

    #[test]
    fn kinds_parse_lowercase() {
        #[derive(Deserialize)]
        struct Wrap {
            kind: ScheduleKind,
        }
        let w: Wrap = toml::from_str("kind = \"cosine\"").unwrap();
        assert_eq!(w.kind, ScheduleKind::Cosine);
        assert!(toml::from_str::<Wrap>("kind = \"Cosine\"").is_err());
    }
}
