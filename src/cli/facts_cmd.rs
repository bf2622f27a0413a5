//! `mixtune facts --source FILE --summary TEXT`: the names, numbers, amounts, ids, dates
//! and places of a summary, each marked as found in the source or invented.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;

use mixtune::eval::facts::{check_facts, FactCheck};

use super::infer::read_input;

#[derive(Args, Debug)]
pub struct FactsArgs {
    /// The source the summary was written from (the chat): a file, or `-` for standard input.
    #[arg(long)]
    source: PathBuf,
    /// The summary text.
    #[arg(
        long,
        conflicts_with = "summary_file",
        required_unless_present = "summary_file"
    )]
    summary: Option<String>,
    /// A file holding the summary (`-` for standard input).
    #[arg(long)]
    summary_file: Option<PathBuf>,
    /// Print `{"facts": [{"text", "kind", "start", "end", "invented"}], "invented": N}`.
    #[arg(long)]
    json: bool,
}

pub fn run_facts(args: FactsArgs) -> Result<()> {
    let stdin = Path::new("-");
    if args.source == stdin && args.summary_file.as_deref() == Some(stdin) {
        bail!("--source and --summary-file cannot both read standard input (`-`)");
    }
    let source = read_input(&args.source)?;
    if source.trim().is_empty() {
        bail!("{}: the source is empty", args.source.display());
    }
    let summary = match (args.summary, &args.summary_file) {
        (Some(summary), _) => summary,
        (None, Some(file)) => read_input(file)?,
        (None, None) => bail!("give --summary or --summary-file"),
    };
    let check = check_facts(&source, &summary);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        print!("{}", table(&check));
    }
    Ok(())
}

/// One line per fact (invented or found, kind, text), then the count.
fn table(check: &FactCheck) -> String {
    let mut out = String::new();
    for fact in &check.facts {
        let status = if fact.invented { "invented" } else { "found" };
        out.push_str(&format!(
            "{status:<9} {:<7} {}\n",
            fact.kind.as_str(),
            fact.text
        ));
    }
    out.push_str(&format!(
        "{} of {} facts invented\n",
        check.invented,
        check.facts.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_marks_each_fact_and_counts_them() {
        let check = check_facts("Anna: I booked it.", "Anna booked a room in Rome.");
        assert_eq!(
            table(&check),
            "found     name    Anna\ninvented  place   Rome\n1 of 2 facts invented\n"
        );
    }
}
