//! `mixtune bench train`: training tokens/s and peak memory on random Flan-T5-shaped models,
//! batch 8, DialogSum-like lengths (source 512, target 128). Speed is never a test.

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;

use mixtune::device::{self, DeviceChoice};
use mixtune::generate::pad_batch;
use mixtune::model::{T5Config, T5ForConditionalGeneration};
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
    #[arg(long)]
    json: bool,
}

/// HF transformers 5.17 + PyTorch 2.11 eager, AdamW, batch 8, fp32, on an H100 (tokens/s).
fn reference(shapes: &str) -> Option<(f64, &'static str)> {
    match shapes {
        "base" => Some((12_800.0, "12.8k tok/s, peak 11.2 GiB (H100)")),
        "small" => Some((19_600.0, "19.6k tok/s (H100)")),
        _ => None,
    }
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
    if !args.json {
        println!("device: {}", selected.label);
        println!(
            "{:<6} {:>5} {:>10} {:>12} {:>14}  reference",
            "shapes", "batch", "step ms", "tokens/s", "peak memory"
        );
    }
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
            let sources: Vec<Vec<u32>> = (0..args.batch)
                .map(|_| {
                    (0..args.source_len)
                        .map(|i| {
                            if i + 1 == args.source_len {
                                1
                            } else {
                                rng.random_range(3..32000)
                            }
                        })
                        .collect()
                })
                .collect();
            let labels: Vec<Vec<i64>> = (0..args.batch)
                .map(|_| {
                    (0..args.target_len)
                        .map(|i| {
                            if i + 1 == args.target_len {
                                1
                            } else {
                                rng.random_range(3..32000)
                            }
                        })
                        .collect()
                })
                .collect();
            let (input_ids, attention_mask) = pad_batch(&sources, 0, &device)?;
            Ok(TrainBatch {
                input_ids,
                attention_mask,
                labels,
                tasks: vec!["bench".into(); args.batch],
                source_tokens: args.batch * args.source_len,
                target_tokens: args.batch * args.target_len,
            })
        };
        let batches: Vec<mixtune::Result<TrainBatch>> =
            (0..=args.steps).map(|_| make_batch()).collect();
        let mut config = TrainConfig::new("random", "none", args.steps + 1);
        config.learning_rate = 1e-4;
        let mut step_ms = Vec::new();
        let mut tokens_per_s = Vec::new();
        // The run loop's own optimizer step; the first is a warm-up.
        let mut trainer = Trainer::new(model, &config, config.max_steps)?;
        for batch in batches {
            let started = Instant::now();
            let m = trainer.step(vec![batch?])?;
            if m.step > 1 {
                step_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                tokens_per_s.push(m.tokens_per_s);
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
        let reference = reference(shape);
        if !args.json {
            println!(
                "{:<6} {:>5} {:>10.0} {:>12.0} {:>14}  {}",
                shape,
                args.batch,
                ms,
                tps,
                memory_label,
                reference.map_or("-", |r| r.1)
            );
        }
        rows.push(json!({"shapes": shape, "batch": args.batch, "source_len": args.source_len,
            "target_len": args.target_len, "median_step_ms": ms, "tokens_per_s": tps,
            "peak_memory_gib": memory, "memory_kind": if selected.is_gpu { "gpu pool reserved (end of run)" } else { "process peak RSS" },
            "reference_tokens_per_s": reference.map(|r| r.0)}));
    }
    if args.json {
        println!("{}", json!({"device": selected.label, "results": rows}));
    } else {
        println!("reference: HF transformers 5.17 + PyTorch 2.11 eager fp32, AdamW, batch 8, on an H100; compare only like devices.");
    }
    Ok(())
}
