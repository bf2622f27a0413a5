//! The forgetting report: what tuning did to every task of a mixture, the trained ones and
//! the `[[watch]]` ones it never trained on, as ROUGE-L from a baseline pass to now, with
//! drops beyond a threshold flagged (catastrophic forgetting).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::events::{EvalMetrics, TaskEval};

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

    /// Compares two validation passes of the same mixture. A task scored in only one of
    /// them is left out.
    pub fn compare(baseline: &EvalMetrics, now: &EvalMetrics, threshold: f64) -> Self {
        let changes = |watched: bool,
                       before: &BTreeMap<String, TaskEval>,
                       after: &BTreeMap<String, TaskEval>| {
            after
                .iter()
                .filter_map(|(task, eval)| {
                    let base = before.get(task)?;
                    Some(TaskChange::new(
                        task,
                        watched,
                        base.rouge_l,
                        eval.rouge_l,
                        threshold,
                    ))
                })
                .collect::<Vec<_>>()
        };
        let mut tasks = changes(false, &baseline.tasks, &now.tasks);
        tasks.extend(changes(true, &baseline.watched, &now.watched));
        Self {
            metric: FORGETTING_METRIC.to_string(),
            threshold,
            baseline_step: baseline.step,
            step: now.step,
            tasks,
        }
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

    fn eval(rouge_l: f64) -> TaskEval {
        TaskEval {
            loss: 1.0,
            rouge1: 0.5,
            rouge2: 0.2,
            rouge_l,
            rouge_lsum: rouge_l,
            examples: 8,
            invented_rate: 0.0,
        }
    }

    fn pass(step: usize, trained: &[(&str, f64)], watched: &[(&str, f64)]) -> EvalMetrics {
        let map = |scores: &[(&str, f64)]| {
            scores
                .iter()
                .map(|&(task, rouge_l)| (task.to_string(), eval(rouge_l)))
                .collect()
        };
        EvalMetrics {
            step,
            val_loss: 1.0,
            tasks: map(trained),
            watched: map(watched),
            forgetting: None,
            metric: 1.0,
            best: false,
            samples: Vec::new(),
            seconds: 0.0,
        }
    }

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

    #[test]
    fn compares_trained_and_watched_tasks_from_the_baseline() {
        let baseline = pass(0, &[("summary", 0.20)], &[("topic", 0.40), ("gone", 0.3)]);
        let now = pass(
            50,
            &[("summary", 0.31)],
            &[("topic", 0.385), ("new", 0.5), ("gone", 0.1)],
        );
        let report = ForgettingReport::compare(&baseline, &now, 0.02);
        assert_eq!((report.baseline_step, report.step), (0, 50));
        assert_eq!(report.metric, "rougeL");
        let tasks: Vec<(&str, bool, bool)> = report
            .tasks
            .iter()
            .map(|c| (c.task.as_str(), c.watched, c.dropped))
            .collect();
        // `new` has no baseline and is left out; `gone` fell by 0.2, `topic` by 0.015.
        assert_eq!(
            tasks,
            [
                ("summary", false, false),
                ("gone", true, true),
                ("topic", true, false)
            ]
        );
        for change in &report.tasks {
            assert!((change.delta - (change.now - change.baseline)).abs() < 1e-15);
        }
        assert!((report.tasks[0].delta - 0.11).abs() < 1e-12);
        assert_eq!(
            (report.tasks[2].baseline, report.tasks[2].now),
            (0.40, 0.385)
        );
        let table = report.table("step 0", "step 50");
        assert!(
            table.contains("a drop of more than 0.020 flagged"),
            "{table}"
        );
        let gone = table.lines().find(|l| l.starts_with("gone")).unwrap();
        assert!(gone.contains("watched") && gone.contains("-0.2000") && gone.ends_with("DROPPED"));
        let summary = table.lines().find(|l| l.starts_with("summary")).unwrap();
        assert!(
            summary.contains("+0.1100") && !summary.contains("DROPPED"),
            "{table}"
        );
        assert!(table.ends_with("1 of 3 tasks dropped by more than 0.020 ROUGE-L: gone\n"));
    }
}
