//! `mixtune bench generate`: greedy 64-token generation on random Flan-T5-shaped models.
//! Speed is measured here, never in a pass/fail test.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::bench_reference::{Ct2Reference, Reference};
use burn::tensor::Device;
use mixtune::device::{self, profile, DeviceChoice};
use mixtune::generate::{generate, Decoding, GenerationConfig};
use mixtune::model::{GenerationDefaults, Precision, T5Config, T5ForConditionalGeneration};

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
    /// f32, f16 or int8 (CPU): the precision the model computes in (as `--dtype` of
    /// `generate`). int8 also prints the share of greedy tokens equal to f32's.
    #[arg(long, default_value = "f32")]
    dtype: mixtune::model::Precision,
    /// Time this model folder (or hub id) instead of random weights of --shapes: its own
    /// shapes and weights (random prompts within its vocabulary).
    #[arg(long)]
    model: Option<String>,
    /// The output of `../shared/bench/hf_same_work.py` measured on this same card: adds its
    /// figures and the ratio. Without one, no reference is printed.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// On the CPU: the output of `../shared/bench/ct2_cpu_same_work.py` run on this machine
    /// adds CTranslate2's float32 and int8 times and the ratio to its float32.
    #[arg(long, value_name = "FILE")]
    ct2: Option<PathBuf>,
    /// Also count kernel launches and host syncs per decode step (GPU builds count
    /// launches; the CPU backend launches none).
    #[arg(long)]
    profile: bool,
    #[arg(long)]
    json: bool,
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
    let reference = args
        .reference
        .as_deref()
        .map(|path| Reference::load_for(path, &selected.device))
        .transpose()?;
    let ct2 = args.ct2.as_deref().map(Ct2Reference::load).transpose()?;
    anyhow::ensure!(
        ct2.is_none() || !selected.is_gpu,
        "--ct2: CTranslate2's figures are CPU figures; run this bench with --device cpu"
    );
    let shapes: Vec<&str> = match args.shapes.as_str() {
        _ if args.model.is_some() => vec!["model"],
        "both" => vec!["small", "base"],
        "small" => vec!["small"],
        "base" => vec!["base"],
        other => anyhow::bail!("--shapes `{other}`: expected small, base or both"),
    };
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    if let Some(spec) = &args.model {
        mixtune::model::resolve_model_dir(spec, !args.json)?; // before the table's header
    }
    let config = GenerationConfig {
        max_new_tokens: args.new_tokens,
        min_new_tokens: args.new_tokens,
        ..Default::default()
    };
    let mut rows = Vec::new();
    if !args.json {
        println!("device: {} ({})", selected.label, args.dtype);
        if let Some(reference) = &reference {
            println!("{}", reference.describe());
        }
        if let Some(ct2) = &ct2 {
            println!("{}", ct2.describe());
        }
        print!(
            "{:<6} {:>5} {:>7} {:>11} {:>9} {:>9} {:>10} {:>8}",
            "shapes", "batch", "tokens", "mixtune ms", "ms/token", "HF fp32", "HF bf16", "ratio"
        );
        match ct2 {
            Some(_) => println!(" {:>9} {:>9} {:>8}", "CT2 fp32", "CT2 int8", "vs CT2"),
            None => println!(),
        }
    }
    for shape in shapes {
        let device = &selected.device;
        mixtune::model::check_precision(device, args.dtype)?;
        let (model_config, random) = match (&args.model, shape) {
            (Some(spec), _) => {
                let loaded = mixtune::model::load_pretrained(spec, device, !args.json)?;
                (loaded.model.config.clone(), loaded.model)
            }
            (None, "small") => random_model(T5Config::flan_t5_small(), device),
            (None, _) => random_model(T5Config::flan_t5_base(), device),
        };
        let top_id = model_config.vocab_size.min(32000) as u32;
        // int8 is measured against the same weights in f32: the share of equal tokens.
        let reference_f32 = (args.dtype == Precision::Int8)
            .then(|| mixtune::model::to_precision(random.clone(), Precision::F32));
        let model = mixtune::model::to_precision(random, args.dtype);
        let defaults = GenerationDefaults::from_config(&model_config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for &batch in &args.batch {
            let prompts: Vec<Vec<u32>> = (0..batch)
                .map(|_| {
                    let mut ids: Vec<u32> = (1..args.source_len)
                        .map(|_| rng.random_range(3..top_id))
                        .collect();
                    ids.push(1);
                    ids
                })
                .collect();
            let run = |config: &GenerationConfig| -> Result<f64> {
                let decoding = Decoding {
                    config,
                    defaults: &defaults,
                    vocab_limit: 32100,
                };
                let start = Instant::now();
                let out = generate(&model, &prompts, decoding)?;
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(
                    out[0].len() == config.max_new_tokens + 1,
                    "generated {} tokens",
                    out[0].len() - 1
                );
                Ok(ms)
            };
            run(&config)?; // warm-up: compiles (and tunes) this shape's kernels
            let mut times = (0..args.runs)
                .map(|_| run(&config))
                .collect::<Result<Vec<f64>>>()?;
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let per_token = median / args.new_tokens as f64;
            let profile = if args.profile {
                // Per decode step: the difference between a long and a short call, so the
                // encoder and set-up cancel out.
                let short = GenerationConfig {
                    max_new_tokens: 2,
                    min_new_tokens: 2,
                    ..config.clone()
                };
                run(&short)?;
                let (_, long) = profile::measure(device, || run(&config));
                let (_, brief) = profile::measure(device, || run(&short));
                let steps = args.new_tokens.saturating_sub(2).max(1) as f64;
                let per_step = |long: Option<usize>, brief: Option<usize>| {
                    long.zip(brief)
                        .map(|(l, b)| l.saturating_sub(b) as f64 / steps)
                };
                Some((
                    per_step(long.launches, brief.launches),
                    per_step(Some(long.host_reads), Some(brief.host_reads)),
                ))
            } else {
                None
            };
            let hf = |dtype: &str| {
                reference
                    .as_ref()
                    .and_then(|r| r.find("generate", shape, dtype, batch))
                    .and_then(|row| row.median_ms)
            };
            let (hf_fp32, hf_bf16) = (hf("fp32"), hf("bf16"));
            let ratio = hf_fp32.map(|r| median / r);
            let ct2_ms = |kind: &str| ct2.as_ref().and_then(|c| c.find(shape, batch, kind));
            let (ct2_fp32, ct2_int8) = (ct2_ms("float32"), ct2_ms("int8"));
            let ratio_ct2 = ct2_fp32.map(|r| median / r);
            if !args.json {
                let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
                print!(
                    "{:<6} {:>5} {:>7} {:>11.1} {:>9.2} {:>9} {:>10} {:>8}",
                    shape,
                    batch,
                    args.new_tokens,
                    median,
                    per_token,
                    show(hf_fp32),
                    show(hf_bf16),
                    ratio.map_or("-".into(), |r| format!("{r:.2}x"))
                );
                match ct2 {
                    Some(_) => println!(
                        " {:>9} {:>9} {:>8}",
                        show(ct2_fp32),
                        show(ct2_int8),
                        ratio_ct2.map_or("-".into(), |r| format!("{r:.2}x"))
                    ),
                    None => println!(),
                }
                if let Some((launches, reads)) = profile {
                    println!(
                        "       per decode step: {} kernel launches, {} host syncs",
                        launches.map_or("n/a (cpu)".into(), |l| format!("{l:.1}")),
                        reads.map_or("-".into(), |r| format!("{r:.1}"))
                    );
                }
            }
            let equal = match &reference_f32 {
                Some(reference_f32) => {
                    let decoding = Decoding {
                        config: &config,
                        defaults: &defaults,
                        vocab_limit: 32100,
                    };
                    let quantized = generate(&model, &prompts, decoding)?;
                    let exact = generate(reference_f32, &prompts, decoding)?;
                    Some(tokens_equal(&quantized, &exact))
                }
                None => None,
            };
            if let (Some(equal), false) = (equal, args.json) {
                println!(
                    "       int8: {:.1}% of greedy tokens equal to f32's on the same weights",
                    equal * 100.0
                );
            }
            rows.push(
                json!({"shapes": shape, "batch": batch, "source_len": args.source_len,
                "dtype": args.dtype.name(), "int8_tokens_equal_to_f32": equal,
                "new_tokens": args.new_tokens, "median_ms": median, "ms_per_token": per_token,
                "runs_ms": times, "hf_fp32_ms": hf_fp32, "hf_bf16_ms": hf_bf16,
                "ratio_to_hf_fp32": ratio,
                "ct2_fp32_ms": ct2_fp32, "ct2_int8_ms": ct2_int8, "ratio_to_ct2_fp32": ratio_ct2,
                "launches_per_step": profile.and_then(|p| p.0),
                "host_syncs_per_step": profile.and_then(|p| p.1)}),
            );
        }
    }
    super::bench_reference::print_end(args.json, &selected.label, reference.as_ref(), rows);
    Ok(())
}

/// The share of positions where two generations have the same token (rows and lengths as
/// `a`'s; a position `b` lacks counts as different).
fn tokens_equal(a: &[Vec<u32>], b: &[Vec<u32>]) -> f64 {
    let (mut equal, mut total) = (0usize, 0usize);
    for (row_a, row_b) in a.iter().zip(b) {
        total += row_a.len();
        equal += row_a.iter().zip(row_b).filter(|(x, y)| x == y).count();
    }
    equal as f64 / total.max(1) as f64
}

/// Random weights (HF's init scales) of `config`'s shapes.
fn random_model(config: T5Config, device: &Device) -> (T5Config, T5ForConditionalGeneration) {
    let model = T5ForConditionalGeneration::random(&config, device);
    (config, model)
}
