//! `mixtune bench train`: training tokens/s and peak memory on random Flan-T5-shaped models,
//! batch 8, DialogSum-like lengths (source 512, target 128). Speed is never a test.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::bench_reference::Reference;
use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::data::LoadOptions;
use mixtune::device::{self, profile, DeviceChoice};
use mixtune::mixture::template;
use mixtune::model::{T5Config, T5ForConditionalGeneration};
use mixtune::train::batch::{length_bucket, padded_batch};
use mixtune::train::{TrainBatch, TrainConfig, Trainer};

#[derive(Args, Debug)]
pub struct TrainBench {
    /// small, base, or both.
    #[arg(long, default_value = "both")]
    shapes: String,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 512)]
    source_len: usize,
    #[arg(long, default_value_t = 128)]
    target_len: usize,
    /// Timed optimizer steps after one warm-up step; the median is reported.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    /// The output of `../shared/bench/hf_same_work.py` measured on this same card: adds its
    /// figures and the ratio. Without one, no reference is printed.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Also count kernel launches and host syncs of one training step.
    #[arg(long)]
    profile: bool,
    /// Take each example's source/target lengths from this data file (DialogSum-like,
    /// rendered with the dialogue_summary template, cut to --source-len/--target-len):
    /// batches then vary in length as in a real run and are padded to length buckets. Prints
    /// every step's time. Needs --tokenizer.
    #[arg(long, requires = "tokenizer")]
    lengths_from: Option<PathBuf>,
    /// The tokenizer.json that measures --lengths-from.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// (source, target) token lengths of every record of `data`, rendered through the
/// dialogue_summary template and measured with `tokenizer`, cut to the limits.
fn real_lengths(
    data: &std::path::Path,
    tokenizer: &std::path::Path,
    max_source: usize,
    max_target: usize,
) -> Result<Vec<(usize, usize)>> {
    let tokenizer = T5Tokenizer::from_file(tokenizer)?;
    let templates = template::load_builtin("dialogue_summary.toml")?;
    let dataset = mixtune::data::load(data, &LoadOptions::default())?;
    let mut lengths = Vec::new();
    for record in &dataset.records {
        let (source, target) = templates.render(&record.fields, 0, &record.id)?;
        let source = tokenizer.encode(&source)?.len().min(max_source);
        let target = tokenizer.encode(&target)?.len().clamp(1, max_target);
        lengths.push((source.max(1), target));
    }
    anyhow::ensure!(!lengths.is_empty(), "{}: no records", data.display());
    Ok(lengths)
}

/// Peak resident memory of this process (Linux `VmHWM`), in GiB.
fn peak_rss_gib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1024.0 * 1024.0))
}

pub fn bench_train(args: TrainBench) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let device = selected.device.clone().autodiff();
    let shapes: Vec<&str> = match args.shapes.as_str() {
        "both" => vec!["small", "base"],
        "small" | "base" => vec![args.shapes.as_str()],
        other => anyhow::bail!("--shapes `{other}`: expected small, base or both"),
    };
    let reference = args
        .reference
        .as_deref()
        .map(|path| Reference::load_for(path, &selected.device))
        .transpose()?;
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    if !args.json {
        println!("device: {}", selected.label);
        if let Some(reference) = &reference {
            println!("{}", reference.describe());
        }
        println!(
            "{:<6} {:>5} {:>9} {:>10} {:>14} {:>11} {:>11} {:>11} {:>7}",
            "shapes",
            "batch",
            "first ms",
            "step ms",
            "tokens/s",
            "memory",
            "HF fp32",
            "HF bf16",
            "ratio"
        );
    }
    let real = match (&args.lengths_from, &args.tokenizer) {
        (Some(data), Some(tokenizer)) => Some(real_lengths(
            data,
            tokenizer,
            args.source_len,
            args.target_len,
        )?),
        _ => None,
    };
    let mut rows = Vec::new();
    for shape in shapes {
        let model_config = if shape == "small" {
            T5Config::flan_t5_small()
        } else {
            T5Config::flan_t5_base()
        };
        let model = T5ForConditionalGeneration::random(&model_config, &device);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut make_batch = || -> mixtune::Result<TrainBatch> {
            // Each example's (source, target) length: fixed, or drawn from the data file.
            let sizes: Vec<(usize, usize)> = (0..args.batch)
                .map(|_| match &real {
                    Some(lengths) => lengths[rng.random_range(0..lengths.len())],
                    None => (args.source_len, args.target_len),
                })
                .collect();
            let mut ids = |len: usize| -> Vec<u32> {
                (0..len)
                    .map(|i| {
                        if i + 1 == len {
                            1
                        } else {
                            rng.random_range(3..32000)
                        }
                    })
                    .collect()
            };
            let sources: Vec<Vec<u32>> = sizes.iter().map(|&(s, _)| ids(s)).collect();
            let targets: Vec<Vec<u32>> = sizes.iter().map(|&(_, t)| ids(t)).collect();
            let longest = |rows: &[Vec<u32>]| rows.iter().map(Vec::len).max().unwrap_or(1);
            // Padded as the run's batcher pads: to length buckets when lengths vary.
            let (source_len, target_len) = if real.is_some() {
                (
                    length_bucket(longest(&sources), args.source_len),
                    length_bucket(longest(&targets), args.target_len),
                )
            } else {
                (args.source_len, args.target_len)
            };
            let tasks = vec!["bench".to_string(); args.batch];
            padded_batch(&sources, &targets, tasks, [source_len, target_len], &device)
        };
        let batches: Vec<mixtune::Result<TrainBatch>> =
            (0..=args.steps).map(|_| make_batch()).collect();
        let mut config = TrainConfig::new("random", "none", args.steps + 1);
        config.learning_rate = 1e-4;
        let mut step_ms = Vec::new();
        let mut all_ms = Vec::new();
        let mut shapes_by_step = Vec::new();
        let mut tokens_per_s = Vec::new();
        let mut first_ms = 0.0;
        let mut counts = None;
        // The run loop's own optimizer step; the first compiles (and tunes) the kernels.
        let mut trainer = Trainer::new(model, &config, config.max_steps)?;
        let last = batches.len() - 1;
        for (i, batch) in batches.into_iter().enumerate() {
            let batch = batch?;
            let started = Instant::now();
            let m = if args.profile && i == last {
                let (m, c) = profile::measure(&device, || trainer.step(vec![batch]));
                counts = Some(c);
                m?
            } else {
                trainer.step(vec![batch])?
            };
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            all_ms.push(ms);
            shapes_by_step.push(m.distinct_shapes);
            if m.step > 1 {
                step_ms.push(ms);
                tokens_per_s.push(m.tokens_per_s);
            } else {
                first_ms = ms;
            }
        }
        step_ms.sort_by(f64::total_cmp);
        tokens_per_s.sort_by(f64::total_cmp);
        let (ms, tps) = (
            step_ms[step_ms.len() / 2],
            tokens_per_s[tokens_per_s.len() / 2],
        );
        let memory = if selected.is_gpu {
            device
                .memory_pool_usage()
                .map(|u| u.bytes_reserved as f64 / (1u64 << 30) as f64)
        } else {
            peak_rss_gib()
        };
        let memory_label = match (memory, selected.is_gpu) {
            (Some(gib), true) => format!("{gib:.2} GiB pool"),
            (Some(gib), false) => format!("{gib:.2} GiB RSS"),
            (None, _) => "-".into(),
        };
        let hf = |dtype: &str| {
            reference
                .as_ref()
                .and_then(|r| r.find("train", shape, dtype, args.batch))
        };
        let (hf_fp32, hf_bf16) = (hf("fp32"), hf("bf16-autocast"));
        let ratio = hf_fp32.and_then(|r| r.tokens_per_s).map(|r| tps / r);
        if !args.json {
            let show = |row: Option<&super::bench_reference::ReferenceRow>| {
                row.and_then(|r| r.tokens_per_s)
                    .map_or("-".into(), |t| format!("{:.1}k", t / 1000.0))
            };
            println!(
                "{:<6} {:>5} {:>9.0} {:>10.0} {:>14.0} {:>11} {:>11} {:>11} {:>7}",
                shape,
                args.batch,
                first_ms,
                ms,
                tps,
                memory_label,
                show(hf_fp32),
                show(hf_bf16),
                ratio.map_or("-".into(), |r| format!("{r:.2}x"))
            );
            if real.is_some() {
                let steps: Vec<String> = all_ms
                    .iter()
                    .zip(&shapes_by_step)
                    .map(|(ms, shapes)| format!("{ms:.0}ms/{shapes}"))
                    .collect();
                println!(
                    "       each step (ms / distinct shapes so far): {}",
                    steps.join(" ")
                );
            }
            if let Some(c) = counts {
                println!(
                    "       per training step: {} kernel launches, {} host syncs",
                    c.launches.map_or("n/a (cpu)".into(), |l| l.to_string()),
                    c.host_reads
                );
            }
        }
        rows.push(json!({"shapes": shape, "batch": args.batch, "source_len": args.source_len,
            "target_len": args.target_len, "first_step_ms": first_ms, "median_step_ms": ms,
            "tokens_per_s": tps, "peak_memory_gib": memory,
            "step_ms": all_ms, "distinct_shapes_by_step": shapes_by_step,
            "lengths_from": args.lengths_from,
            "memory_kind": if selected.is_gpu { "gpu pool reserved (end of run)" } else { "process peak RSS" },
            "hf_fp32_tokens_per_s": hf_fp32.and_then(|r| r.tokens_per_s),
            "hf_fp32_peak_gib": hf_fp32.and_then(|r| r.peak_gib),
            "hf_bf16_tokens_per_s": hf_bf16.and_then(|r| r.tokens_per_s),
            "ratio_to_hf_fp32": ratio,
            "launches_per_step": counts.and_then(|c| c.launches),
            "host_syncs_per_step": counts.map(|c| c.host_reads)}));
    }
    super::bench_reference::print_end(args.json, &selected.label, reference.as_ref(), rows);
    Ok(())
}
