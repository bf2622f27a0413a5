//! `mixtune rouge`: mean ROUGE F-measures of a predictions file against a
//! references file, one example per line.

use std::path::PathBuf;

use anyhow::Context;

use mixtune::eval::rouge::{mean_fmeasures, read_lines_file, MeanRouge};

/// Arguments of `mixtune rouge`.
#[derive(Debug, Clone, clap::Args)]
pub struct RougeArgs {
    /// File with one prediction per line (an empty line is an empty prediction).
    #[arg(long, value_name = "FILE")]
    pub predictions: PathBuf,
    /// File with one reference per line, in the same order as the predictions.
    #[arg(long, value_name = "FILE")]
    pub references: PathBuf,
    /// Apply the Porter stemmer to tokens longer than three characters.
    #[arg(long)]
    pub stem: bool,
    /// Print `{"rouge1":..,"rouge2":..,"rougeL":..,"rougeLsum":..}` instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Reads both files, scores them and prints the mean F-measures.
pub fn run_rouge(args: RougeArgs) -> anyhow::Result<()> {
    let preds = read_lines_file(&args.predictions).context("reading predictions")?;
    let refs = read_lines_file(&args.references).context("reading references")?;
    let mean = mean_fmeasures(&preds, &refs, args.stem)?;
    print!("{}", render(&mean, preds.len(), args.stem, args.json)?);
    Ok(())
}

/// The report as printed: one JSON line, or a small table.
fn render(mean: &MeanRouge, examples: usize, stem: bool, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(format!("{}\n", serde_json::to_string(mean)?));
    }
    let stemming = if stem { "on" } else { "off" };
    let mut out = format!(
        "Mean ROUGE F-measure over {examples} examples (stemming {stemming})\n\
         {:<10} {:>9}\n",
        "metric", "F-measure"
    );
    for (name, value) in [
        ("rouge1", mean.rouge1),
        ("rouge2", mean.rouge2),
        ("rougeL", mean.rouge_l),
        ("rougeLsum", mean.rouge_lsum),
    ] {
        out.push_str(&format!("{name:<10} {value:>9.4}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::io::Write;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RougeArgs,
    }

    fn mean() -> MeanRouge {
        MeanRouge {
            rouge1: 0.5,
            rouge2: 0.25,
            rouge_l: 0.125,
            rouge_lsum: 1.0,
        }
    }

    #[test]
    fn parses_flags() {
        let cli = Cli::try_parse_from([
            "rouge",
            "--predictions",
            "p.txt",
            "--references",
            "r.txt",
            "--stem",
        ])
        .expect("valid arguments");
        assert_eq!(cli.args.predictions, PathBuf::from("p.txt"));
        assert_eq!(cli.args.references, PathBuf::from("r.txt"));
        assert!(cli.args.stem);
        assert!(!cli.args.json);
        assert!(Cli::try_parse_from(["rouge", "--predictions", "p.txt"]).is_err());
    }

    #[test]
    fn json_has_the_four_keys() {
        let text = render(&mean(), 2, false, true).expect("renders");
        let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON value");
        assert_eq!(value["rouge1"], 0.5);
        assert_eq!(value["rouge2"], 0.25);
        assert_eq!(value["rougeL"], 0.125);
        assert_eq!(value["rougeLsum"], 1.0);
    }

    #[test]
    fn table_lists_each_metric() {
        let text = render(&mean(), 3, true, false).expect("renders");
        assert!(text.contains("over 3 examples (stemming on)"), "{text}");
        assert!(text.contains("rouge2        0.2500"), "{text}");
        assert!(text.contains("rougeLsum     1.0000"), "{text}");
    }

    #[test]
    fn run_reports_count_mismatch() {
        let mut preds = tempfile::NamedTempFile::new().expect("temp");
        let mut refs = tempfile::NamedTempFile::new().expect("temp");
        preds.write_all(b"a\nb\n").expect("write");
        refs.write_all(b"a\n").expect("write");
        let err = run_rouge(RougeArgs {
            predictions: preds.path().to_path_buf(),
            references: refs.path().to_path_buf(),
            stem: false,
            json: true,
        })
        .expect_err("counts differ");
        assert!(
            err.to_string().contains("2 predictions but 1 references"),
            "{err}"
        );
    }
}
