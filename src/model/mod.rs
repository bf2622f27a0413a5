//! The T5 / Flan-T5 model in Burn: config, layers, attention, stacks, checkpoint loading.

pub mod attention;
pub mod config;
pub mod export;
pub mod layers;
pub mod loader;
pub mod t5;
pub mod weights;

pub use config::T5Config;
pub use loader::{load_pretrained, resolve_model_dir, Pretrained};
pub use t5::T5ForConditionalGeneration;
