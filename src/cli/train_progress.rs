//! What `mixtune train` shows while it runs: a progress bar with validation lines, or with
//! `--json` every event as a JSON line. A standard output that goes away (`train --json |
//! head`) never ends the run: the events still go to `metrics.jsonl`, and stderr says so once.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use mixtune::train::events::{EvalMetrics, RunEvent, RunSummary};

/// Standard output that may be closed by its reader: the first failed write is noted on
/// stderr and later lines are dropped.
pub struct LineOut {
    closed: bool,
    metrics: PathBuf,
}

impl LineOut {
    /// Lines for standard output; `metrics` is named when it closes.
    pub fn new(metrics: PathBuf) -> Self {
        Self {
            closed: false,
            metrics,
        }
    }

    /// Writes `text` and a newline, unless standard output already failed.
    pub fn line(&mut self, text: &str) {
        if self.closed {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(error) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            self.closed = true;
            eprintln!(
                "note: standard output failed ({error}); training goes on, its events are in {}",
                self.metrics.display()
            );
        }
    }
}

/// Prints a run's events as they come (see the module doc).
pub struct ProgressPrinter {
    json: bool,
    on_gpu: bool,
    /// Distinct batch shapes announced so far.
    shapes_seen: usize,
    bar: ProgressBar,
    out: LineOut,
}

impl ProgressPrinter {
    /// A printer for a run writing to `output_dir` on a GPU (`on_gpu`) or the CPU.
    pub fn new(json: bool, on_gpu: bool, output_dir: &Path) -> Self {
        let bar = if json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            )
        };
        Self {
            json,
            on_gpu,
            shapes_seen: 0,
            bar,
            out: LineOut::new(mixtune::train::run_dir::RunDir::new(&output_dir).metrics()),
        }
    }

    /// Shows one event.
    pub fn event(&mut self, event: &RunEvent) {
        if self.json {
            if let Ok(line) = serde_json::to_string(event) {
                self.out.line(&line);
            }
            return;
        }
        match event {
            RunEvent::Started {
                total_steps,
                start_step,
                trainable_parameters,
                total_parameters,
                notes,
                ..
            } => {
                for note in notes {
                    self.bar.println(format!("note: {note}"));
                }
                self.bar.set_length(*total_steps as u64);
                self.bar.set_position(*start_step as u64);
                let resuming = match start_step {
                    0 => String::new(),
                    step => format!("; resuming at step {step}"),
                };
                self.bar.println(format!(
                    "trainable parameters: {trainable_parameters} of {total_parameters}{resuming}"
                ));
            }
            RunEvent::PreparingKernels { step, .. } => {
                if let Some(message) = event.preparing_message() {
                    self.bar.println(format!("step {step}: {message}"));
                    self.bar.set_message(message);
                }
            }
            RunEvent::Step(m) => {
                if m.distinct_shapes > self.shapes_seen {
                    self.shapes_seen = m.distinct_shapes;
                    // The cost of a new shape is paid once; show it rather than a slow step.
                    let what = match self.on_gpu {
                        true => "preparing its kernels and the step",
                        false => "the step",
                    };
                    self.bar.println(format!(
                        "step {}: new batch shape ({} so far): {what} took {:.1} s",
                        m.step, m.distinct_shapes, m.seconds,
                    ));
                }
                self.bar.set_position(m.step as u64);
                self.bar.set_message(format!(
                    "loss {:.4}  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
                    m.loss, m.learning_rate, m.grad_norm, m.tokens_per_s
                ));
            }
            RunEvent::Eval(e) => self.eval(e),
            RunEvent::Checkpoint { path, .. } => {
                self.bar.println(format!("checkpoint {}", path.display()));
            }
            RunEvent::ConfigChanged { step, changes } => {
                self.bar.println(format!(
                    "step {step}: config changed on resume: {}",
                    changes.join("; ")
                ));
            }
            RunEvent::Cancelled { step, .. } => {
                self.bar.println(format!("cancelled at step {step}"));
            }
            RunEvent::Failed { .. }
            | RunEvent::Finished(_)
            | RunEvent::Paused { .. }
            | RunEvent::Resumed { .. } => {}
        }
    }

    /// A validation pass: one line over its tasks, then the forgetting table when there is one.
    fn eval(&self, e: &EvalMetrics) {
        let trained = e.tasks.iter().map(|(task, t)| (task, "", t));
        let watched = e.watched.iter().map(|(task, t)| (task, " (watched)", t));
        let tasks: Vec<String> = trained
            .chain(watched)
            .map(|(task, kind, t)| {
                format!(
                    "{task}{kind}: loss {:.3} R1 {:.4} RL {:.4} invented {:.1}%",
                    t.loss,
                    t.rouge.rouge1,
                    t.rouge.rouge_l,
                    t.invented_rate * 100.0
                )
            })
            .collect();
        self.bar.println(format!(
            "step {}: val_loss {:.4}{}  {}",
            e.step,
            e.val_loss,
            if e.best { " (best)" } else { "" },
            tasks.join("; ")
        ));
        if let Some(report) = &e.forgetting {
            let now = format!("step {}", report.step);
            let table = report.table(&format!("step {}", report.baseline_step), &now);
            self.bar.println(table.trim_end());
        }
    }

    /// The end of a run that was not cancelled: the forgetting table and the summary line.
    pub fn finish(&mut self, summary: &RunSummary) {
        self.bar.finish();
        if self.json {
            let line = serde_json::json!({ "summary": summary }).to_string();
            self.out.line(&line);
            return;
        }
        if let Some(report) = &summary.forgetting {
            let now = format!("step {}", report.step);
            let table = report.table(&format!("step {}", report.baseline_step), &now);
            self.out.line(table.trim_end());
        }
        let loss = |l: Option<f64>| l.map_or("-".into(), |l| format!("{l:.4}"));
        let adapter = summary
            .adapter_dir
            .as_ref()
            .map_or(String::new(), |d| format!(", adapter in {}", d.display()));
        self.out.line(&format!(
            "{} steps, loss {} -> {}{}; model in {}{adapter}",
            summary.steps,
            loss(summary.first_loss),
            loss(summary.last_loss),
            if summary.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            summary.model_dir.display(),
        ));
    }

    /// The bar ends where the run stopped (a cancel).
    pub fn abandon(&self) {
        self.bar.abandon();
    }
}
