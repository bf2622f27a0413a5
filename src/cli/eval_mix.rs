//! `mixtune eval --mix mix.toml --model M [--compare BASE]`: every task of a mixture, the
//! trained ones and the `[[watch]]` ones, scored on its validation rows; with `--compare`
//! the forgetting report (each task's ROUGE-L from BASE to M, drops flagged).

use std::path::Path;

use anyhow::{Context, Result};

use mixtune::device::SelectedDevice;
use mixtune::mixture::Mixture;
use mixtune::train::events::EvalMetrics;
use mixtune::train::mixture_eval::{score_model, MixtureEvalOptions};

/// What `eval --mix` was asked.
pub struct MixEval<'a> {
    pub mix: &'a Path,
    pub model: &'a str,
    pub compare: Option<&'a str>,
    pub eval_examples: usize,
    pub max_new_tokens: usize,
    pub batch_size: usize,
    pub threshold: f64,
    pub json: bool,
}

pub fn run_mix_eval(args: &MixEval, selected: &SelectedDevice) -> Result<()> {
    anyhow::ensure!(
        args.threshold.is_finite() && args.threshold >= 0.0,
        "--forgetting-threshold must be 0 or more, got {}",
        args.threshold
    );
    let mixture = Mixture::load(args.mix)
        .with_context(|| format!("loading the mixture {}", args.mix.display()))?;
    let options = MixtureEvalOptions {
        eval_examples: args.eval_examples,
        max_new_tokens: args.max_new_tokens,
        batch_size: args.batch_size,
    };
    if !args.json {
        eprintln!("evaluating on {}", selected.label);
    }
    let score = |model: &str| {
        score_model(&mixture, model, &selected.device, &options)
            .with_context(|| format!("evaluating {model} on {}", args.mix.display()))
    };
    let after = score(args.model)?;
    let Some(base) = args.compare else {
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "model": args.model, "scores": after })
            );
        } else {
            print!("{}", scores_table(args.mix, args.model, &after));
        }
        return Ok(());
    };
    let before = score(base)?;
    let report = after.forgetting_since(&before, args.threshold);
    if args.json {
        let json = serde_json::json!({
            "model": args.model,
            "compare": base,
            "scores": after,
            "compare_scores": before,
            "forgetting": report,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "{} ({} trained, {} watched tasks), up to {} validation examples each",
            args.mix.display(),
            after.tasks.len(),
            after.watched.len(),
            args.eval_examples
        );
        print!("{}", report.table(base, args.model));
    }
    Ok(())
}

/// One model's scores, one line per task.
fn scores_table(mix: &Path, model: &str, scores: &EvalMetrics) -> String {
    let rows: Vec<(&String, &str, _)> = scores
        .tasks
        .iter()
        .map(|(task, eval)| (task, "trained", eval))
        .chain(
            scores
                .watched
                .iter()
                .map(|(task, eval)| (task, "watched", eval)),
        )
        .collect();
    let width = rows
        .iter()
        .map(|(task, ..)| task.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{model} on {}\n{:width$}  {:7}  {:>8}  {:>7}  {:>7}  {:>7}  {:>10}\n",
        mix.display(),
        "task",
        "kind",
        "examples",
        "loss",
        "ROUGE-1",
        "ROUGE-L",
        "ROUGE-Lsum"
    );
    for (task, kind, eval) in rows {
        out.push_str(&format!(
            "{task:width$}  {kind:7}  {:>8}  {:>7.4}  {:>7.4}  {:>7.4}  {:>10.4}\n",
            eval.examples, eval.loss, eval.rouge.rouge1, eval.rouge.rouge_l, eval.rouge.rouge_lsum
        ));
    }
    out
}
