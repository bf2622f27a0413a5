//! `mixtune mix ...`: preview a task mixture.

use std::path::PathBuf;

use anyhow::Context;

use mixtune::data::lengths::LengthMeasure;
use mixtune::data::near_dup::{check_threshold, DEFAULT_THRESHOLD};
use mixtune::mixture::{preview_at, Mixture};

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
        /// Near-duplicate threshold: the Jaccard of 5-word shingle sets, above 0 and at most 1.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f64,
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
            threshold,
        } => {
            check_threshold(threshold).context("--threshold")?;
            let mixture = Mixture::load(&config)
                .with_context(|| format!("loading mixture {}", config.display()))?;
            let measure = LengthMeasure::new(tokenizer.as_deref())?;
            let preview = preview_at(&mixture, &*measure.count, measure.unit, samples, threshold)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&preview)?);
            } else {
                print!("{preview}");
            }
            Ok(())
        }
    }
}
