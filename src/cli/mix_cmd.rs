//! `mixtune mix ...`: preview a task mixture.

use std::path::PathBuf;

use anyhow::Context;

use mixtune::data::lengths::LengthMeasure;
use mixtune::mixture::{preview, Mixture};

/// Mixture commands.
#[derive(Debug, clap::Subcommand)]
pub enum MixCommand {
    /// Show each task's share, one rendered example per phrasing, length histograms,
    /// truncation counts and data problems.
    Preview {
        /// Mixture config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Print the preview as JSON.
        #[arg(long)]
        json: bool,
        /// tokenizer.json for token lengths; without it lengths are counted in words.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Samples drawn to measure shares and lengths.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
    },
}

/// Runs a `mix` subcommand.
pub fn run_mix(cmd: MixCommand) -> anyhow::Result<()> {
    match cmd {
        MixCommand::Preview {
            config,
            json,
            tokenizer,
            samples,
        } => {
            let mixture = Mixture::load(&config)
                .with_context(|| format!("loading mixture {}", config.display()))?;
            let measure = LengthMeasure::new(tokenizer.as_deref())?;
            let preview = preview(&mixture, &*measure.count, measure.unit, samples)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&preview)?);
            } else {
                print!("{preview}");
            }
            Ok(())
        }
    }
}
