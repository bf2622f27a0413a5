//! The forgetting report: what tuning did to every task of a mixture, the trained ones and
//! the `[[watch]]` ones it never trained on, as ROUGE-L from a baseline pass to now, with
//! drops beyond a threshold flagged (catastrophic forgetting).

use serde::{Deserialize, Serialize};

/// The ROUGE variant the report compares.
pub const FORGETTING_METRIC: &str = "rougeL";

/// The default `forgetting_threshold`: a drop of more than 0.02 ROUGE-L (absolute) is
/// flagged.
pub const DEFAULT_FORGETTING_THRESHOLD: f64 = 0.02;

/// One task from the baseline to now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct TaskChange {
    pub task: String,
    /// A `[[watch]]` task (scored, never trained on).
    pub watched: bool,
    /// ROUGE-L at the baseline.
    pub baseline: f64,
    /// ROUGE-L now.
    pub now: f64,
    /// `now - baseline`.
    pub delta: f64,
    /// Whether the task lost more than the threshold: `baseline - now > threshold`.
    pub dropped: bool,
}

impl TaskChange {
    /// The change of `task` from `baseline` to `now`, flagged when it fell by more than
    /// `threshold`.
    pub fn new(task: &str, watched: bool, baseline: f64, now: f64, threshold: f64) -> Self {
        let delta = now - baseline;
        Self {
            task: task.to_string(),
            watched,
            baseline,
            now,
            delta,
            dropped: -delta > threshold,
        }
    }
}

/// Every task's ROUGE-L at a baseline and now, with drops beyond `threshold` flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ForgettingReport {
    /// The ROUGE variant compared ([`FORGETTING_METRIC`]).
    pub metric: String,
    /// A drop larger than this (absolute ROUGE) is flagged: the run's `forgetting_threshold`.
    pub threshold: f64,
    /// Step of the baseline pass (0 in a run).
    pub baseline_step: usize,
    /// Step of the pass compared with it.
    pub step: usize,
    /// Trained tasks first, then watched ones, each by name.
    pub tasks: Vec<TaskChange>,
}

impl ForgettingReport {
    /// The task that lost the most (lowest `delta`), if any task was compared.
    pub fn worst(&self) -> Option<&TaskChange> {
        self.tasks.iter().min_by(|a, b| a.delta.total_cmp(&b.delta))
    }

    /// The tasks that dropped by more than the threshold.
    pub fn dropped(&self) -> impl Iterator<Item = &TaskChange> {
        self.tasks.iter().filter(|change| change.dropped)
    }

    /// A plain-text table, one line per task, with `before` and `after` as column heads
    /// (e.g. `step 0` / `step 200`, or two model names), and a line naming the drops.
    pub fn table(&self, before: &str, after: &str) -> String {
        let name_width = self
            .tasks
            .iter()
            .map(|change| change.task.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let before_width = before.len().max(7);
        let after_width = after.len().max(7);
        let mut out = format!(
            "forgetting report: ROUGE-L, a drop of more than {:.3} flagged\n\
             {:name_width$}  {:7}  {:>before_width$}  {:>after_width$}  {:>8}\n",
            self.threshold, "task", "kind", before, after, "change"
        );
        for change in &self.tasks {
            out.push_str(&format!(
                "{:name_width$}  {:7}  {:>before_width$.4}  {:>after_width$.4}  {:>+8.4}{}\n",
                change.task,
                if change.watched { "watched" } else { "trained" },
                change.baseline,
                change.now,
                change.delta,
                if change.dropped { "  DROPPED" } else { "" }
            ));
        }
        let dropped: Vec<&str> = self.dropped().map(|change| change.task.as_str()).collect();
        out.push_str(&match dropped.len() {
            0 => format!(
                "no task dropped by more than {:.3} ROUGE-L\n",
                self.threshold
            ),
            n => format!(
                "{n} of {} tasks dropped by more than {:.3} ROUGE-L: {}\n",
                self.tasks.len(),
                self.threshold,
                dropped.join(", ")
            ),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_a_drop_only_beyond_the_threshold() {
        // Differences of exact binary fractions, so the boundary case is exact.
        assert!(!TaskChange::new("a", false, 0.5, 0.5 - 0.03125, 0.03125).dropped);
        assert!(TaskChange::new("a", false, 0.5, 0.5 - 0.0625, 0.03125).dropped);
        assert!(!TaskChange::new("a", false, 0.5, 0.9, 0.0).dropped);
        assert!(TaskChange::new("a", false, 0.5, 0.499, 0.0).dropped);
        let change = TaskChange::new("a", true, 0.25, 0.125, 0.02);
        assert_eq!(
            (change.delta, change.dropped, change.watched),
            (-0.125, true, true)
        );
    }
}
