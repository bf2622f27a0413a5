//! `mixtune prepare-gpu`: compiles and tunes a run's GPU kernels ahead of it, so its first
//! step on a fresh machine does not (see `mixtune::train::prepare`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use mixtune::device::kernel_shapes::{model_dims, ShapeRecord};
use mixtune::device::{self, DeviceChoice};
use mixtune::model::Precision;
use mixtune::train::prepare::{
    bucket_pairs, generation_shapes, prepare, PreparePlan, PrepareProgress, ShapeOutcome, Work,
};
use mixtune::train::{RunPaths, TrainConfig};

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// A run config: prepare what that run will step on (its model's dims, batch size,
    /// precision, LoRA adapters, and every length bucket up to its mixture's limits).
    #[arg(long, conflicts_with_all = ["shapes", "dtype", "source_len", "target_len"])]
    config: Option<PathBuf>,
    /// Without --config: Flan-T5 small, base, or both (the dims of the catalog's models).
    #[arg(long)]
    shapes: Option<String>,
    /// Examples per batch (default: the run config's, else 8).
    #[arg(long)]
    batch: Option<usize>,
    /// Without --config: the longest source and target a batch is padded to.
    #[arg(long, default_value_t = 512)]
    source_len: usize,
    #[arg(long, default_value_t = 128)]
    target_len: usize,
    /// Without --config: f32 or f16 (as a run config's `precision`).
    #[arg(long, default_value = "f32")]
    dtype: Precision,
    /// Training shapes only: leave out the short generations that prepare inference (a
    /// run's validation, summaries in the app) at batch 1 and the run's batch.
    #[arg(long)]
    no_generation: bool,
    /// Run the steps an earlier run or preparation already recorded, too.
    #[arg(long)]
    force: bool,
    #[arg(long, default_value = "auto")]
    device: String,
    /// One JSON object at the end instead of progress lines.
    #[arg(long)]
    json: bool,
}

pub fn run_prepare(args: PrepareArgs) -> Result<()> {
    let mut plans = plans(&args)?;
    if args.no_generation {
        plans
            .iter_mut()
            .for_each(|(_, plan)| plan.generations.clear());
    }
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    if !selected.is_gpu {
        let why = match args.device.as_str() {
            "cpu" => "--device cpu",
            _ => "no GPU in use: --device auto found none",
        };
        let message = format!("{why}; the CPU compiles no kernels, so there is nothing to prepare");
        match args.json {
            true => println!(
                "{}",
                json!({"device": selected.label, "prepared": [], "note": message})
            ),
            false => println!("{message}"),
        }
        return Ok(());
    }
    let cache = device::kernel_cache_dir();
    let mut record = ShapeRecord::open();
    let started = Instant::now();
    let mut rows = Vec::new();
    for (name, plan) in &plans {
        if !args.json {
            println!(
                "preparing GPU kernels on {}: {name} ({}), {}, batch {}: {} training shapes, \
                 {} generations",
                selected.label,
                model_dims(&plan.model),
                plan.precision.name(),
                plan.batch,
                plan.lengths.len(),
                plan.generations.len()
            );
        }
        let show = |event: PrepareProgress| {
            if args.json {
                return;
            }
            match event {
                PrepareProgress::Starting {
                    index,
                    total,
                    work,
                    shape,
                } => {
                    print!("  [{}/{total}] {} … ", index + 1, step_label(work, shape));
                    let _ = std::io::stdout().flush();
                }
                PrepareProgress::Done { outcome, .. } => println!("{}", outcome_label(&outcome)),
            }
        };
        let never = AtomicBool::new(false);
        let outcomes = prepare(
            plan,
            &selected.device,
            &mut record,
            args.force,
            &never,
            show,
        )
        .with_context(|| format!("preparing {name} on {}", selected.label))?;
        for ((work, _), (key, outcome)) in plan.steps().into_iter().zip(outcomes) {
            let (seconds, steps) = match outcome {
                ShapeOutcome::Prepared { seconds, steps } => (Some(seconds), steps),
                ShapeOutcome::AlreadyPrepared => (None, 0),
            };
            let work = match work {
                Work::Train => "train",
                Work::Generate => "generate",
            };
            rows.push(
                json!({"model": name, "work": work, "key": key.as_str(), "seconds": seconds,
                "steps": steps, "already_prepared": seconds.is_none()}),
            );
        }
    }
    let total = started.elapsed().as_secs_f64();
    let kept = match cfg!(feature = "gpu-cache") {
        true => format!(
            "the tuned kernels are kept in {} (with the shapes' record), the pipelines in \
             the driver's own cache where it keeps one",
            cache.display()
        ),
        false => "this build keeps no tuning results (built without `gpu-cache`, which \
                  scripts/setup.sh builds with): only the driver's pipeline cache, where it \
                  keeps one, outlasts this process"
            .to_string(),
    };
    if args.json {
        println!(
            "{}",
            json!({"device": selected.label, "seconds": total, "kernel_cache": cache,
                "persists_tuning": cfg!(feature = "gpu-cache"), "prepared": rows})
        );
    } else {
        println!("done in {total:.1} s: {kept}");
    }
    Ok(())
}

/// The plans the arguments ask for, named for the progress line.
fn plans(args: &PrepareArgs) -> Result<Vec<(String, PreparePlan)>> {
    if let Some(path) = &args.config {
        let mut config = TrainConfig::from_file(path)?;
        if let Some(batch) = args.batch {
            anyhow::ensure!(batch > 0, "--batch must be at least 1");
            config.batch_size = batch;
        }
        let paths = RunPaths::resolve(path, &config);
        let plan = PreparePlan::for_run_config(&config, &paths, true)?;
        return Ok(vec![(paths.model, plan)]);
    }
    anyhow::ensure!(
        args.dtype != Precision::Int8,
        "--dtype int8: training runs in f32 or f16 (int8 is for inference on the CPU)"
    );
    anyhow::ensure!(
        args.source_len > 0 && args.target_len > 0,
        "--source-len and --target-len must be at least 1"
    );
    let batch = args.batch.unwrap_or(8);
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    let shapes = super::bench::shape_names(args.shapes.as_deref().unwrap_or("both"))?;
    Ok(shapes
        .into_iter()
        .map(|shape| {
            let plan = PreparePlan {
                model: super::bench::shape_config(shape),
                precision: args.dtype,
                lora: None,
                dropout_rate: 0.0,
                batch,
                lengths: bucket_pairs(args.source_len, args.target_len),
                generations: generation_shapes(batch, args.source_len),
            };
            (format!("Flan-T5 {shape}"), plan)
        })
        .collect())
}

fn step_label(work: Work, [batch, source, target]: [usize; 3]) -> String {
    match work {
        Work::Train => format!("train {batch}×{source}→{target}"),
        Work::Generate => format!("generate {batch}×{source} (+{target} tokens)"),
    }
}

fn outcome_label(outcome: &ShapeOutcome) -> String {
    match outcome {
        ShapeOutcome::Prepared { seconds, steps: 1 } => format!("{seconds:.1} s"),
        ShapeOutcome::Prepared { seconds, steps } => {
            let why = "f16 gradients overflowed until the loss scale fell";
            format!("{seconds:.1} s ({steps} steps: {why})")
        }
        ShapeOutcome::AlreadyPrepared => "already prepared (skipped; --force steps on it)".into(),
    }
}
