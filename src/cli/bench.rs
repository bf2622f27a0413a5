//! `mixtune bench generate`: greedy 64-token generation on random Flan-T5-shaped models.
//! Speed is measured here, never in a pass/fail test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::bench_reference::{Ct2Reference, Reference};
use burn::tensor::Device;
use mixtune::device::profile::{KernelKind, Phase};
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
    /// TFLOP/s of each matrix product of a training step: Burn's f32 and f16, and the
    /// cooperative-matrix kernel's f16 where the GPU has it.
    Gemm(super::bench_gemm::GemmBench),
    /// Training attention (forward + backward) per layer and per step: the tensor ops, the
    /// WGSL kernels, and their cooperative-matrix variants where the GPU has them.
    Attention(super::bench_attention::AttentionBench),
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
        BenchCommand::Gemm(args) => super::bench_gemm::bench_gemm(args),
        BenchCommand::Attention(args) => super::bench_attention::bench_attention(args),
    }
}

/// The model shapes `--shapes` names: `small`, `base` or `both`.
pub(super) fn shape_names(shapes: &str) -> Result<Vec<&'static str>> {
    Ok(match shapes {
        "both" => vec!["small", "base"],
        "small" => vec!["small"],
        "base" => vec!["base"],
        other => anyhow::bail!("--shapes `{other}`: expected small, base or both"),
    })
}

/// Flan-T5's config for a shape [`shape_names`] gives.
pub(super) fn shape_config(shape: &str) -> T5Config {
    if shape == "small" {
        T5Config::flan_t5_small()
    } else {
        T5Config::flan_t5_base()
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
    let shapes = match args.model {
        Some(_) => vec!["model"],
        None => shape_names(&args.shapes)?,
    };
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    if let Some(spec) = &args.model {
        mixtune::model::resolve_model_dir(spec, !args.json)?; // before the table's header
    }
    let device = &selected.device;
    mixtune::model::check_precision(device, args.dtype)?;
    if !args.json {
        print_generate_header(&selected.label, &args, reference.as_ref(), ct2.as_ref());
    }
    let mut rows = Vec::new();
    for shape in shapes {
        let (model_config, random) = match (&args.model, shape) {
            (Some(spec), _) => {
                let loaded = mixtune::model::load_pretrained(spec, device, !args.json)?;
                (loaded.model.config.clone(), loaded.model)
            }
            (None, shape) => random_model(shape_config(shape), device),
        };
        // int8 is measured against the same weights in f32: the share of equal tokens.
        let reference_f32 = (args.dtype == Precision::Int8)
            .then(|| mixtune::model::to_precision(random.clone(), Precision::F32));
        let model = mixtune::model::to_precision(random, args.dtype);
        let defaults = GenerationDefaults::from_config(&model_config);
        let top_id = model_config.vocab_size.min(32000) as u32;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for &batch in &args.batch {
            let prompts = random_prompts(&mut rng, batch, args.source_len, top_id);
            let bench = GenerateRun {
                model: &model,
                prompts: &prompts,
                defaults: &defaults,
                device,
            };
            let timed = bench.time(&args)?;
            let refs = Compared::new(reference.as_ref(), ct2.as_ref(), shape, batch, timed.median);
            let equal = match &reference_f32 {
                Some(exact) => Some(bench.tokens_equal_to(exact, args.new_tokens)?),
                None => None,
            };
            if !args.json {
                print_generate_row(shape, batch, &args, &timed, &refs, ct2.is_some(), equal);
            }
            rows.push(
                json!({"shapes": shape, "batch": batch, "source_len": args.source_len,
                "dtype": args.dtype.name(), "int8_tokens_equal_to_f32": equal,
                "new_tokens": args.new_tokens, "median_ms": timed.median,
                "ms_per_token": timed.median / args.new_tokens as f64,
                "runs_ms": timed.times, "hf_fp32_ms": refs.hf_fp32, "hf_bf16_ms": refs.hf_bf16,
                "ratio_to_hf_fp32": refs.ratio_hf,
                "ct2_fp32_ms": refs.ct2_fp32, "ct2_int8_ms": refs.ct2_int8,
                "ratio_to_ct2_fp32": refs.ratio_ct2,
                "launches_per_step": timed.per_step.as_ref().and_then(|p| p.launches),
                "host_syncs_per_step": timed.per_step.as_ref().map(|p| p.host_syncs),
                "launches_by_kind": timed.per_step.as_ref().map(DecodeStep::kinds_json)}),
            );
        }
    }
    super::bench_reference::print_end(args.json, &selected.label, reference.as_ref(), rows);
    Ok(())
}

/// The table's head: device, references, column names.
fn print_generate_header(
    label: &str,
    args: &GenerateBench,
    reference: Option<&Reference>,
    ct2: Option<&Ct2Reference>,
) {
    println!("device: {label} ({})", args.dtype);
    if let Some(reference) = reference {
        println!("{}", reference.describe());
    }
    if let Some(ct2) = ct2 {
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

/// One table row, with the per-step counts and the int8 agreement below it when measured.
fn print_generate_row(
    shape: &str,
    batch: usize,
    args: &GenerateBench,
    timed: &Timed,
    refs: &Compared,
    with_ct2: bool,
    equal: Option<f64>,
) {
    let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
    let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}x"));
    print!(
        "{:<6} {:>5} {:>7} {:>11.1} {:>9.2} {:>9} {:>10} {:>8}",
        shape,
        batch,
        args.new_tokens,
        timed.median,
        timed.median / args.new_tokens as f64,
        show(refs.hf_fp32),
        show(refs.hf_bf16),
        ratio(refs.ratio_hf)
    );
    if with_ct2 {
        let (fp32, int8) = (show(refs.ct2_fp32), show(refs.ct2_int8));
        println!(" {fp32:>9} {int8:>9} {:>8}", ratio(refs.ratio_ct2));
    } else {
        println!();
    }
    if let Some(step) = &timed.per_step {
        step.print();
    }
    if let Some(equal) = equal {
        println!(
            "       int8: {:.1}% of greedy tokens equal to f32's on the same weights",
            equal * 100.0
        );
    }
}

/// `batch` random prompts of `source_len` tokens (ids 3..`top_id`, then `</s>`).
fn random_prompts(
    rng: &mut rand::rngs::StdRng,
    batch: usize,
    source_len: usize,
    top_id: u32,
) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|_| {
            let mut ids: Vec<u32> = (1..source_len)
                .map(|_| rng.random_range(3..top_id))
                .collect();
            ids.push(1);
            ids
        })
        .collect()
}

/// One model on one batch of prompts.
struct GenerateRun<'a> {
    model: &'a T5ForConditionalGeneration,
    prompts: &'a [Vec<u32>],
    defaults: &'a GenerationDefaults,
    device: &'a Device,
}

/// Times of one [`GenerateRun`].
struct Timed {
    /// Each timed run, sorted (ms).
    times: Vec<f64>,
    /// Their median (ms).
    median: f64,
    /// With `--profile`: kernel launches (GPU builds) and host syncs per decode step.
    per_step: Option<DecodeStep>,
}

/// Kernel launches per kernel name, as [`profile::launches_by_kernel`] counts them.
type LaunchCounts = BTreeMap<&'static str, usize>;

/// What one decode step launches, from the difference between a long and a short run.
struct DecodeStep {
    /// Kernel launches (`None` on the CPU backend).
    launches: Option<f64>,
    /// Host syncs.
    host_syncs: f64,
    /// Launches by kind, in [`KernelKind::ALL`]'s order, kinds with none left out.
    by_kind: Vec<(KernelKind, f64)>,
    /// The kernels launched most per step, most first (short names).
    top: Vec<(String, f64)>,
}

impl DecodeStep {
    /// Kernels listed in the profile line.
    const TOP: usize = 6;

    /// Per step of the `steps` decode steps a long run (`counts.0`) made past a short one
    /// (`counts.1`), per kernel name; `reads` is the difference in host reads.
    fn between(counts: Option<(LaunchCounts, LaunchCounts)>, reads: usize, steps: usize) -> Self {
        let steps = steps as f64;
        let Some((long, short)) = counts else {
            return Self {
                launches: None,
                host_syncs: reads as f64 / steps,
                by_kind: Vec::new(),
                top: Vec::new(),
            };
        };
        let mut per_kernel: Vec<(String, f64)> = long
            .iter()
            .map(|(name, n)| {
                let before = short.get(name).copied().unwrap_or(0);
                let name = profile::balanced_name(name);
                (name, n.saturating_sub(before) as f64 / steps)
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        per_kernel.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let by_kind = KernelKind::ALL
            .iter()
            .map(|&kind| {
                let n = per_kernel
                    .iter()
                    .filter(|(name, _)| KernelKind::of(name, Phase::Model) == kind)
                    .map(|(_, n)| n)
                    .sum::<f64>();
                (kind, n)
            })
            .filter(|(_, n)| *n > 0.0)
            .collect();
        Self {
            launches: Some(per_kernel.iter().map(|(_, n)| n).sum()),
            host_syncs: reads as f64 / steps,
            by_kind,
            top: per_kernel
                .iter()
                .take(Self::TOP)
                .map(|(name, n)| (super::bench_profile::short_name(name), *n))
                .collect(),
        }
    }

    /// The profile's lines under a row of the table.
    fn print(&self) {
        println!(
            "       per decode step: {} kernel launches, {:.1} host syncs",
            self.launches
                .map_or("n/a (cpu)".into(), |l| format!("{l:.1}")),
            self.host_syncs
        );
        if !self.by_kind.is_empty() {
            let kinds: Vec<String> = self
                .by_kind
                .iter()
                .map(|(kind, n)| format!("{} {n:.1}", kind.label()))
                .collect();
            println!("         by kind: {}", kinds.join(", "));
            let top: Vec<String> = self
                .top
                .iter()
                .map(|(name, n)| format!("{name} {n:.1}"))
                .collect();
            println!("         most launched: {}", top.join(", "));
        }
    }

    /// Launches per step by kind, as `--json` carries them (`{"gemm": 24.0, ...}`; the kinds
    /// named as `bench train --profile --json` names them, by `KernelKind`'s serde name).
    fn kinds_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.by_kind
            .iter()
            .filter_map(|(kind, n)| Some((json!(kind).as_str()?.to_string(), json!(n))))
            .collect()
    }
}

impl GenerateRun<'_> {
    /// Greedy generation of exactly `config.max_new_tokens` tokens, timed (ms).
    fn run(&self, config: &GenerationConfig) -> Result<f64> {
        let start = Instant::now();
        let out = self.generate(config)?;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            out[0].len() == config.max_new_tokens + 1,
            "generated {} tokens",
            out[0].len() - 1
        );
        Ok(ms)
    }

    fn generate(&self, config: &GenerationConfig) -> Result<Vec<Vec<u32>>> {
        let decoding = Decoding {
            config,
            defaults: self.defaults,
            vocab_limit: 32100,
        };
        Ok(generate(self.model, self.prompts, decoding)?)
    }

    /// A warm-up (it compiles, and on a GPU tunes, this shape's kernels), then `--runs`
    /// timed runs; with `--profile`, the launches and host syncs per decode step: the
    /// difference between a long and a short call, so the encoder and set-up cancel out.
    fn time(&self, args: &GenerateBench) -> Result<Timed> {
        let config = exact_tokens(args.new_tokens);
        self.run(&config)?;
        let mut times = (0..args.runs)
            .map(|_| self.run(&config))
            .collect::<Result<Vec<f64>>>()?;
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let per_step = if args.profile {
            let short = exact_tokens(2);
            self.run(&short)?;
            let reads = profile::host_reads();
            let (_, long) = profile::launches_by_kernel(self.device, || self.run(&config));
            let long_reads = profile::host_reads() - reads;
            let (_, brief) = profile::launches_by_kernel(self.device, || self.run(&short));
            let brief_reads = profile::host_reads() - reads - long_reads;
            let steps = args.new_tokens.saturating_sub(2).max(1);
            Some(DecodeStep::between(
                long.zip(brief),
                long_reads.saturating_sub(brief_reads),
                steps,
            ))
        } else {
            None
        };
        Ok(Timed {
            times,
            median,
            per_step,
        })
    }

    /// The share of this run's greedy tokens equal to `exact`'s on the same prompts.
    fn tokens_equal_to(
        &self,
        exact: &T5ForConditionalGeneration,
        new_tokens: usize,
    ) -> Result<f64> {
        let config = exact_tokens(new_tokens);
        let quantized = self.generate(&config)?;
        let reference = GenerateRun {
            model: exact,
            ..*self
        };
        Ok(tokens_equal(&quantized, &reference.generate(&config)?))
    }
}

/// Greedy decoding of exactly `tokens` new tokens (no early `</s>`).
fn exact_tokens(tokens: usize) -> GenerationConfig {
    GenerationConfig {
        max_new_tokens: tokens,
        min_new_tokens: tokens,
        ..Default::default()
    }
}

/// The reference figures for one row, and Mixtune's ratio to them.
struct Compared {
    hf_fp32: Option<f64>,
    hf_bf16: Option<f64>,
    ratio_hf: Option<f64>,
    ct2_fp32: Option<f64>,
    ct2_int8: Option<f64>,
    ratio_ct2: Option<f64>,
}

impl Compared {
    fn new(
        reference: Option<&Reference>,
        ct2: Option<&Ct2Reference>,
        shape: &str,
        batch: usize,
        median: f64,
    ) -> Self {
        let hf = |dtype: &str| {
            reference
                .and_then(|r| r.find("generate", shape, dtype, batch))
                .and_then(|row| row.median_ms)
        };
        let ct2_ms = |kind: &str| ct2.and_then(|c| c.find(shape, batch, kind));
        let (hf_fp32, ct2_fp32) = (hf("fp32"), ct2_ms("float32"));
        Self {
            hf_fp32,
            hf_bf16: hf("bf16"),
            ratio_hf: hf_fp32.map(|r| median / r),
            ct2_fp32,
            ct2_int8: ct2_ms("int8"),
            ratio_ct2: ct2_fp32.map(|r| median / r),
        }
    }
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
