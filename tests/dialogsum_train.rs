//! Fine-tuning on DialogSum dev, validating on DialogSum test: the tiny fixture model's
//! validation loss falls and its ROUGE-1 rises, and `mixtune eval --compare` shows the
//! improvement of the trained model over the base in the lab's table.

mod common;

use std::process::Command;

use burn::tensor::Device;
use common::{shared, tiny_flan};
use mixtune::eval::compare::{evaluate, EvalRequest};
use mixtune::train::events::RunEvent;
use mixtune::train::{run_from_file, RunControl, RunOptions};

#[test]
fn training_on_dev_lowers_validation_loss_and_raises_rouge1_on_test() {
    let dir = tempfile::tempdir().unwrap();
    let dev = std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.dev.jsonl")).unwrap();
    std::fs::write(
        dir.path().join("train.jsonl"),
        dev.lines().take(300).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let test =
        std::fs::read_to_string(shared().join("data/dialogsum/dialogsum.test.jsonl")).unwrap();
    std::fs::write(
        dir.path().join("test.jsonl"),
        test.lines().take(24).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mix.toml"),
        "[mixture]\nseed = 1\nmax_source_tokens = 192\nmax_target_tokens = 48\n\n\
         [[task]]\nname = \"summary\"\ndata = \"train.jsonl\"\ntemplate = \"dialogue_summary\"\nsplit = \"train\"\neval_data = \"test.jsonl\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("run.toml"),
        format!(
            "model = \"{}\"\nmixture = \"mix.toml\"\noutput_dir = \"out\"\nmax_steps = 120\nbatch_size = 8\n\
             learning_rate = 0.005\nwarmup_steps = 10\nschedule = \"linear\"\neval_at_start = true\neval_every = 60\n\
             eval_examples = 24\neval_max_new_tokens = 48\nbest_metric = \"summary/rouge1\"\n",
            tiny_flan().display()
        ),
    )
    .unwrap();
    let mut evals = Vec::new();
    let summary = run_from_file(
        &dir.path().join("run.toml"),
        &Device::flex(),
        &RunOptions::default(),
        &RunControl::new(),
        &mut |e| {
            if let RunEvent::Eval(eval) = e {
                evals.push(eval.clone());
            }
        },
    )
    .unwrap();
    assert_eq!(summary.steps, 120);
    let (first, last) = (&evals[0], evals.last().unwrap());
    assert_eq!((first.step, last.step), (0, 120));
    let (r_before, r_after) = (
        first.tasks["summary"].rouge.rouge1,
        last.tasks["summary"].rouge.rouge1,
    );
    eprintln!(
        "val_loss {:.3} -> {:.3}; ROUGE-1 {:.4} -> {:.4}",
        first.val_loss, last.val_loss, r_before, r_after
    );
    assert!(
        last.val_loss < first.val_loss - 1.0,
        "val loss {} -> {}",
        first.val_loss,
        last.val_loss
    );
    assert!(r_after > r_before + 0.05, "ROUGE-1 {r_before} -> {r_after}");

    // The lab's table: trained vs base on the same test rows.
    let mut request = EvalRequest::new(
        summary.model_dir.to_string_lossy(),
        dir.path().join("test.jsonl"),
    );
    request.compare = vec![tiny_flan().to_string_lossy().into_owned()];
    request.max_new_tokens = 48;
    request.limit = Some(12);
    let report = evaluate(
        &request,
        &Device::flex(),
        &mut |_, _| {},
        &Default::default(),
    )
    .unwrap();
    assert_eq!(report.rows.len(), 12);
    assert!(report
        .rows
        .iter()
        .all(|r| r.predictions.len() == 2 && !r.reference.is_empty()));
    let improvement = report.improvement.unwrap();
    assert!(improvement.rouge1 > 0.03, "{improvement:?}");
    assert!(
        (improvement.rouge1 - (report.models[0].rouge.rouge1 - report.models[1].rouge.rouge1))
            .abs()
            < 1e-12
    );

    // int8 (CPU) on the trained model, same rows: ROUGE-1 within 0.05 of f32's, and how
    // many predictions are word for word the same (printed: the figure README keeps).
    request.compare = Vec::new();
    request.precision = mixtune::model::Precision::Int8;
    let int8 = evaluate(
        &request,
        &Device::flex(),
        &mut |_, _| {},
        &Default::default(),
    )
    .unwrap();
    let (f32_rouge1, int8_rouge1) = (report.models[0].rouge.rouge1, int8.models[0].rouge.rouge1);
    let same = report
        .rows
        .iter()
        .zip(&int8.rows)
        .filter(|(a, b)| a.predictions[0] == b.predictions[0])
        .count();
    println!(
        "trained tiny model, 12 DialogSum test rows: ROUGE-1 f32 {f32_rouge1:.4}, int8 {int8_rouge1:.4}; {same} of 12 summaries identical"
    );
    assert!(
        (f32_rouge1 - int8_rouge1).abs() < 0.05,
        "{f32_rouge1} vs {int8_rouge1}"
    );

    // The same through the CLI, with CSV export.
    let csv_path = dir.path().join("preds.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args([
            "eval",
            "--device",
            "cpu",
            "--limit",
            "4",
            "--max-new-tokens",
            "16",
            "--model",
        ])
        .arg(&summary.model_dir)
        .arg("--compare")
        .arg(tiny_flan())
        .arg("--data")
        .arg(dir.path().join("test.jsonl"))
        .arg("--output")
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("ROUGE-1") && table.contains("improvement"),
        "{table}"
    );
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    // id, reference, per model its prediction, ROUGE-1 and invented facts, then the source.
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.len(), 9, "{headers:?}");
    assert_eq!(
        headers.iter().filter(|h| h.starts_with("invented")).count(),
        2,
        "{headers:?}"
    );
    assert_eq!(reader.records().count(), 4);

    // And the run shows up in the history.
    let out = Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .arg("runs")
        .arg(dir.path())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("out") && listing.contains("finished") && listing.contains("120/120"),
        "{listing}"
    );
}
