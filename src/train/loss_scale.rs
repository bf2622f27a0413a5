//! Dynamic loss scaling for f16 training (`precision = "f16"`), as PyTorch's
//! `torch.cuda.amp.GradScaler`: the loss is multiplied by the scale before the backward pass
//! so small f16 gradients do not flush to zero; the (f32) gradients are divided by it again
//! before clipping and the update. A step whose gradients hold an inf or NaN is skipped and
//! the scale halved; after [`GROWTH_INTERVAL`] clean steps in a row it doubles.
//!
//! The scaler is part of the run's loop state (saved in each checkpoint's `state.json`), so a
//! resumed f16 run scales and skips exactly as an uninterrupted one.

use serde::{Deserialize, Serialize};

/// The first scale, PyTorch's `init_scale`: 2^16.
pub const INITIAL_SCALE: f64 = 65536.0;
/// Clean steps in a row after which the scale doubles (PyTorch's `growth_interval`).
pub const GROWTH_INTERVAL: usize = 2000;
/// Below this scale the gradients overflow at every scale worth trying: the run stops.
pub const MIN_SCALE: f64 = 1.0 / 16_777_216.0; // 2^-24

/// The loss scale and its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// The factor the next step's loss is multiplied by.
    pub scale: f64,
    /// Clean (finite) steps since the scale last changed.
    pub clean_steps: usize,
    /// Steps skipped for non-finite gradients so far in the run.
    pub skipped_steps: usize,
}

/// What one step's gradients decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleDecision {
    /// Whether the update applies (false: the gradients overflowed and the step is skipped).
    pub apply: bool,
    /// The scale the step's backward used (divide the gradients by it).
    pub scale_used: f64,
}

/// How a step event reports loss scaling (f16 runs only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct LossScaleReport {
    /// The scale this step's backward used.
    pub scale: f64,
    /// Whether this step's gradients overflowed, so its update was skipped and the scale halved.
    pub skipped: bool,
    /// Steps skipped so far in the run (this one included).
    pub skipped_steps: usize,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new(INITIAL_SCALE)
    }
}

impl LossScaler {
    /// A scaler starting at `scale`.
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            clean_steps: 0,
            skipped_steps: 0,
        }
    }

    /// Records whether this step's scaled gradients were all finite and updates the scale:
    /// halved (step skipped) on an inf/NaN, doubled after [`GROWTH_INTERVAL`] clean steps.
    pub fn update(&mut self, finite: bool) -> ScaleDecision {
        let scale_used = self.scale;
        if finite {
            self.clean_steps += 1;
            if self.clean_steps >= GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        } else {
            self.scale *= 0.5;
            self.clean_steps = 0;
            self.skipped_steps += 1;
        }
        ScaleDecision {
            apply: finite,
            scale_used,
        }
    }

    /// Whether the scale fell so low that scaling cannot help any more.
    pub fn exhausted(&self) -> bool {
        self.scale < MIN_SCALE
    }

    /// The step event's report after a step that used `decision`.
    pub fn report(&self, decision: ScaleDecision) -> LossScaleReport {
        LossScaleReport {
            scale: decision.scale_used,
            skipped: !decision.apply,
            skipped_steps: self.skipped_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_skips_and_halves() {
        let mut scaler = LossScaler::default();
        let decision = scaler.update(false);
        assert!(!decision.apply);
        assert_eq!(decision.scale_used, 65536.0);
        assert_eq!(scaler.scale, 32768.0);
        assert_eq!(scaler.skipped_steps, 1);
        let report = scaler.report(decision);
        assert!(report.skipped && report.scale == 65536.0 && report.skipped_steps == 1);
    }

    #[test]
    fn doubles_after_the_growth_interval_of_clean_steps() {
        let mut scaler = LossScaler::default();
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert!(scaler.update(true).apply);
        }
        assert_eq!(scaler.scale, INITIAL_SCALE);
        assert_eq!(scaler.clean_steps, GROWTH_INTERVAL - 1);
        scaler.update(true);
        assert_eq!(scaler.scale, 2.0 * INITIAL_SCALE);
        assert_eq!(scaler.clean_steps, 0);
    }

    #[test]
    fn an_overflow_restarts_the_clean_count() {
        let mut scaler = LossScaler::default();
        for _ in 0..GROWTH_INTERVAL - 1 {
            scaler.update(true);
        }
        scaler.update(false);
        assert_eq!((scaler.scale, scaler.clean_steps), (INITIAL_SCALE / 2.0, 0));
        for _ in 0..GROWTH_INTERVAL - 1 {
            scaler.update(true);
        }
        assert_eq!(scaler.scale, INITIAL_SCALE / 2.0);
        scaler.update(true);
        assert_eq!(scaler.scale, INITIAL_SCALE);
    }

    #[test]
    fn runs_out_below_the_minimum() {
        let mut scaler = LossScaler::new(MIN_SCALE);
        assert!(!scaler.exhausted());
        scaler.update(false);
        assert!(scaler.exhausted());
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut scaler = LossScaler::default();
        scaler.update(false);
        scaler.update(true);
        let text = serde_json::to_string(&scaler).unwrap();
        assert_eq!(serde_json::from_str::<LossScaler>(&text).unwrap(), scaler);
    }
}
