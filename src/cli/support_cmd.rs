//! `mixtune summarize --actions` and `--chats FILE`: the support view. A chat's summary and
//! its key actions (`support_request_action`), the summary streamed as it is generated; or
//! every chat of a file, optionally exported as CSV (`--output`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use mixtune::data::chat::SpeakerStyle;
use mixtune::generate::GenerationConfig;
use mixtune::model::Pretrained;
use mixtune::support::{
    action_prompt, read_chats, summarize_chats, support_view, write_csv, SupportPart,
};

/// The support-view flags of `summarize`.
#[derive(Args, Debug)]
pub struct SupportArgs {
    /// Also give the chat's key actions: the customer's request and the agent's next action
    /// (the `support_request_action` task), next to the summary.
    #[arg(long)]
    actions: bool,
    /// Summarize every chat of a file (.jsonl, .json, .csv, .tsv, .parquet) instead of one
    /// `--chat`; the chat is read from a `dialogue`, `chat`, `conversation`, `text` or
    /// `input` column.
    #[arg(long, value_name = "FILE")]
    chats: Option<PathBuf>,
    /// Write the file's chats with their summary (and key actions) to this .csv file.
    #[arg(long, value_name = "FILE.csv")]
    output: Option<PathBuf>,
    /// Chats generated per batch with `--chats`.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

impl SupportArgs {
    /// Whether the support view (rather than a plain summary) was asked for.
    pub fn wanted(&self) -> bool {
        self.actions || self.chats.is_some() || self.output.is_some()
    }

    /// Checks the flags before a model is loaded.
    pub fn check(&self) -> Result<()> {
        if let Some(path) = &self.output {
            if self.chats.is_none() {
                bail!(
                    "--output {}: needs --chats FILE (a file of chats)",
                    path.display()
                );
            }
            if path.extension().and_then(|e| e.to_str()) != Some("csv") {
                bail!("--output {}: use a .csv file name", path.display());
            }
            let inputs: Vec<&Path> = self.chats.iter().map(PathBuf::as_path).collect();
            mixtune::fsutil::check_output(path, &inputs).context("--output")?;
        }
        Ok(())
    }
}

/// One chat (`chat`, read from `chat_name`) or the `--chats` file.
pub fn run(
    args: &SupportArgs,
    chat: Option<(String, PathBuf)>,
    load: impl FnOnce() -> Result<Pretrained>,
    config: &GenerationConfig,
    speakers: SpeakerStyle,
    json: bool,
) -> Result<()> {
    args.check()?;
    if let Some(path) = &args.chats {
        return run_file(args, path, load, config, speakers, json);
    }
    let Some((chat, chat_name)) = chat else {
        bail!("give --chat or --chats");
    };
    // Bad chats are named before the model loads.
    action_prompt(&chat, speakers)
        .with_context(|| format!("reading the chat in {}", chat_name.display()))?;
    let pretrained = load()?;
    let streaming = !json && std::io::stdout().is_terminal();
    let mut printed = String::new();
    let mut out = std::io::stdout().lock();
    if streaming {
        writeln!(out, "Summary:")?;
    }
    let view = support_view(&pretrained, &chat, speakers, config, &mut |part, text| {
        // The summary streams; the key actions follow once it is done.
        if streaming && part == SupportPart::Summary {
            if let Some(new) = text.strip_prefix(printed.as_str()) {
                let _ = write!(out, "{new}");
                let _ = out.flush();
                printed = text.to_string();
            }
        }
    })
    .context("generating the summary and key actions")?;
    if json {
        writeln!(out, "{}", serde_json::to_string(&view)?)?;
        return Ok(());
    }
    if view.cut_tokens > 0 {
        eprintln!(
            "note: the chat was cut to its first {} tokens ({} tokens past --max-source-tokens were not read)",
            view.source_tokens, view.cut_tokens
        );
    }
    if streaming {
        match view.summary.strip_prefix(printed.as_str()) {
            Some(rest) => writeln!(out, "{rest}")?,
            None => writeln!(out, "\n{}", view.summary)?,
        }
    } else {
        writeln!(out, "Summary:\n{}", view.summary)?;
    }
    writeln!(out, "\nKey actions:\n{}", view.actions)?;
    Ok(())
}

fn run_file(
    args: &SupportArgs,
    path: &Path,
    load: impl FnOnce() -> Result<Pretrained>,
    config: &GenerationConfig,
    speakers: SpeakerStyle,
    json: bool,
) -> Result<()> {
    let records = read_chats(path, speakers)?;
    let pretrained = load()?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(records.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} chats  [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let cancel = AtomicBool::new(false);
    let rows = summarize_chats(
        &pretrained,
        &records,
        args.actions,
        config,
        args.batch_size,
        &mut |done, _| bar.set_position(done as u64),
        &cancel,
    )
    .with_context(|| format!("summarizing the chats of {}", path.display()))?;
    bar.finish_and_clear();
    if let Some(output) = &args.output {
        write_csv(&rows, output)?;
    }
    let mut out = std::io::stdout().lock();
    if json {
        let value = json!({"chats": rows.len(), "output": args.output, "rows": rows});
        writeln!(out, "{}", serde_json::to_string(&value)?)?;
        return Ok(());
    }
    match &args.output {
        Some(output) => writeln!(
            out,
            "{} chats from {} written to {}",
            rows.len(),
            path.display(),
            output.display()
        )?,
        None => {
            for row in &rows {
                writeln!(out, "== {} ==\nSummary: {}", row.id, row.summary)?;
                if let Some(actions) = &row.actions {
                    writeln!(out, "Key actions: {actions}")?;
                }
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
