//! Training: learning-rate schedules, batching of rendered examples, the run config
//! and the optimizer loop.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod events;
pub mod lora;
pub mod metric;
pub mod runs;
pub mod schedule;
pub mod session;
pub mod trainer;
pub mod validate;

pub use batch::{Batcher, TrainBatch};
pub use config::TrainConfig;
pub use schedule::{LrSchedule, ScheduleKind};
pub use trainer::{train_steps, StepMetrics};
