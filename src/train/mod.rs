//! Training: the run (setup → step → evaluate → checkpoint → finish), its config, control
//! and events, the optimizer step, checkpoints, LoRA, schedules, batching and validation,
//! and run comparison.

pub mod abort_note;
pub mod batch;
pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod contamination;
pub mod control;
pub mod events;
pub mod forgetting;
pub mod grad_scale;
pub mod lock;
pub mod lora;
pub mod loss_scale;
pub mod metric;
pub mod mixture_eval;
pub mod prepare;
pub mod run;
pub mod run_dir;
pub mod runs;
pub mod schedule;
pub mod trainer;
pub mod validate;
pub mod working_copy;

pub use batch::{Batcher, TrainBatch};
pub use config::TrainConfig;
pub use control::RunControl;
pub use events::{RunEvent, StepMetrics};
pub use run::{run, run_from_file, spawn, RunOptions, RunPaths};
pub use schedule::{LrSchedule, ScheduleKind};
pub use trainer::Trainer;
