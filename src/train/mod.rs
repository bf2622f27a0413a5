//! Training: learning-rate schedules, batching of rendered examples, the run config
//! and the optimizer loop.

pub mod batch;
pub mod config;
pub mod events;
pub mod run;
pub mod schedule;
pub mod trainer;

pub use batch::{Batcher, TrainBatch};
pub use config::TrainConfig;
pub use schedule::{LrSchedule, ScheduleKind};
pub use trainer::{train_steps, StepMetrics};
