//! `mixtune bench generate`: greedy 64-token generation on random Flan-T5-shaped models.
//! Speed is measured here, never in a pass/fail test.

use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use serde_json::json;

use mixtune::device::{self, DeviceChoice};
use mixtune::generate::{generate, Decoding, GenerationConfig};
use mixtune::model::{GenerationDefaults, T5Config, T5ForConditionalGeneration};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Greedy generation latency, batch 1 and batch 32.
    Generate(GenerateBench),
    /// Rows/s to load, render and tokenize DialogSum-shaped JSONL and Parquet.
    Data(super::bench_data::DataBench),
    /// Training tokens/s and peak memory, batch 8, source 512 / target 128.
    Train(super::bench_train::TrainBench),
}

#[derive(Args, Debug)]
pub struct GenerateBench {
    /// small, base, or both.
    #[arg(long, default_value = "both")]
    shapes: String,
    /// Batch sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    batch: Vec<usize>,
    /// Prompt length in tokens (a DialogSum prompt is about 200).
    #[arg(long, default_value_t = 200)]
    source_len: usize,
    /// Tokens generated per run (no early `</s>`).
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// Timed runs after one warm-up; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    #[arg(long)]
    json: bool,
}

/// HF transformers 5.17 + PyTorch 2.11, eager fp32, flan-t5-base shapes, on an H100.
fn reference_ms(shapes: &str, batch: usize) -> Option<f64> {
    match (shapes, batch) {
        ("base", 1) => Some(1081.0),
        ("base", 32) => Some(1361.0),
        _ => None,
    }
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Generate(args) => bench_generate(args),
        BenchCommand::Data(args) => super::bench_data::bench_data(args),
        BenchCommand::Train(args) => super::bench_train::bench_train(args),
    }
}

fn bench_generate(args: GenerateBench) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let shapes: Vec<&str> = match args.shapes.as_str() {
        "both" => vec!["small", "base"],
        "small" => vec!["small"],
        "base" => vec!["base"],
        other => anyhow::bail!("--shapes `{other}`: expected small, base or both"),
    };
    let config = GenerationConfig {
        max_new_tokens: args.new_tokens,
        min_new_tokens: args.new_tokens,
        ..Default::default()
    };
    let mut rows = Vec::new();
    if !args.json {
        println!("device: {}", selected.label);
        println!(
            "{:<6} {:>5} {:>8} {:>11} {:>14} {:>8}",
            "shapes", "batch", "tokens", "mixtune ms", "reference ms", "ratio"
        );
    }
    for shape in shapes {
        let model_config = if shape == "small" {
            T5Config::flan_t5_small()
        } else {
            T5Config::flan_t5_base()
        };
        let model = T5ForConditionalGeneration::random(&model_config, &selected.device);
        let defaults = GenerationDefaults::from_config(&model_config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for &batch in &args.batch {
            let prompts: Vec<Vec<u32>> = (0..batch)
                .map(|_| {
                    let mut ids: Vec<u32> = (1..args.source_len)
                        .map(|_| rng.random_range(3..32000))
                        .collect();
                    ids.push(1);
                    ids
                })
                .collect();
            let mut times = Vec::new();
            for run in 0..=args.runs {
                let start = Instant::now();
                let decoding = Decoding {
                    config: &config,
                    defaults: &defaults,
                    vocab_limit: 32100,
                };
                let out = generate(&model, &prompts, decoding)?;
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(
                    out[0].len() == args.new_tokens + 1,
                    "generated {} tokens",
                    out[0].len() - 1
                );
                if run > 0 {
                    times.push(ms);
                }
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let reference = reference_ms(shape, batch);
            // A ratio against an H100 means something only on a GPU.
            let ratio = reference.filter(|_| selected.is_gpu).map(|r| median / r);
            if !args.json {
                println!(
                    "{:<6} {:>5} {:>8} {:>11.1} {:>14} {:>8}",
                    shape,
                    batch,
                    args.new_tokens,
                    median,
                    reference.map_or("-".into(), |r| format!("{r:.0} (H100)")),
                    ratio.map_or("-".into(), |r| format!("{r:.2}x"))
                );
            }
            rows.push(json!({"shapes": shape, "batch": batch, "source_len": args.source_len,
                "new_tokens": args.new_tokens, "median_ms": median, "runs_ms": times,
                "reference_ms": reference, "reference": "HF transformers 5.17, PyTorch 2.11 eager fp32, H100"}));
        }
    }
    if args.json {
        println!("{}", json!({"device": selected.label, "results": rows}));
    } else {
        println!("reference: HF transformers 5.17 + PyTorch 2.11, eager fp32, on an H100; compare only like devices.");
    }
    Ok(())
}
