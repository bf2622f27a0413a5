//! Mixtune engine: T5 / Flan-T5 in Burn, data, templates, mixtures, training, generation
//! and evaluation. Never depends on the desktop shell.

pub mod alloc;
pub mod catalog;
pub mod data;
pub mod device;
pub mod eval {
    //! Evaluation metrics and model comparison.
    pub mod compare;
    pub mod facts;
    pub mod lcs;
    pub mod porter;
    pub mod rouge;
    pub mod tokenize;
}
pub mod error;
pub mod fsutil;
pub mod generate;
pub mod inference;
pub mod kernels;
pub mod mixture;
pub mod model;
pub mod support;
pub mod train;

pub use error::{MixtuneError, Result};
