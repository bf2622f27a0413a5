//! `mixtune bench train`: training tokens/s and peak memory on random Flan-T5-shaped models,
//! batch 8, DialogSum-like lengths (source 512, target 128). Speed is never a test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::bench_reference::{Reference, ReferenceRow, TorchTrainReference, TorchTrainRow};
use burn::tensor::Device;
use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::data::LoadOptions;
use mixtune::device::live_memory::{self, LivePeak};
use mixtune::device::{self, profile, DeviceChoice};
use mixtune::kernels;
use mixtune::mixture::template;
use mixtune::model::flops::{training_flops, TrainingFlops};
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
    /// f32 or f16: the precision the model computes in, as `precision` of a run config (f16:
    /// f32 master weights, dynamic loss scaling). The HF ratio is always to HF's fp32 row.
    #[arg(long, default_value = "f32")]
    dtype: mixtune::model::Precision,
    /// T5's dropout while training (`dropout_rate` of a run config). 0.1 by default: the
    /// references (`hf_same_work.py`, `torch_cpu_train.py`) train with T5Config's 0.1, so
    /// this is the same work; 0 leaves it out.
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// The output of `../shared/bench/hf_same_work.py` measured on this same card: adds its
    /// figures and the ratio. Without one, no reference is printed.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// On the CPU: lines of `../shared/bench/torch_cpu_train.py` run on this machine (one
    /// per shape, same batch and lengths) add PyTorch's tokens/s and the ratio to it.
    #[arg(long, value_name = "FILE")]
    torch: Option<PathBuf>,
    /// One more step after the timed ones, with every kernel timed: where its GPU time
    /// goes by kind (GEMM, attention, element-wise, reductions, optimizer, copies), the top
    /// 15 kernels, the GEMMs' achieved TFLOP/s, kernel launches and host syncs.
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

/// CPU time by thread of this process, in ns (`/proc/self/task/*/schedstat`; empty off Linux
/// or where the kernel keeps no such counts), with each thread's name.
fn thread_cpu_ns() -> BTreeMap<u64, (String, u64)> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).ok();
        let ns = read("schedstat").and_then(|s| s.split_whitespace().next()?.parse().ok());
        if let Some(ns) = ns {
            let name = read("comm").unwrap_or_default().trim().to_string();
            threads.insert(tid, (name, ns));
        }
    }
    threads
}

/// The host's CPU time over some steps, per step: in all of the process's threads, and in
/// the busiest one (Burn's and CubeCL's device threads build, fuse and encode a step's
/// kernels; on a GPU none of it is the kernels' own work). When the busiest thread's time
/// nears the step's, that thread, not the device, sets the pace. On a software adapter
/// (lavapipe) the kernels run on the CPU too, in those threads.
#[derive(Debug, Clone, PartialEq)]
struct HostCpu {
    all_ms: f64,
    busiest_ms: f64,
    busiest: String,
}

impl HostCpu {
    /// From two [`thread_cpu_ns`] readings `steps` steps apart (`None` without counts).
    fn between(
        before: &BTreeMap<u64, (String, u64)>,
        after: &BTreeMap<u64, (String, u64)>,
        steps: usize,
    ) -> Option<Self> {
        if after.is_empty() || steps == 0 {
            return None;
        }
        let per_step = |ns: u64| ns as f64 / 1e6 / steps as f64;
        let used: Vec<(&str, u64)> = after
            .iter()
            .map(|(tid, (name, ns))| {
                let start = before.get(tid).map_or(0, |(_, ns)| *ns);
                (name.as_str(), ns.saturating_sub(start))
            })
            .collect();
        let (busiest, most) = used.iter().copied().max_by_key(|(_, ns)| *ns)?;
        Some(Self {
            all_ms: per_step(used.iter().map(|(_, ns)| ns).sum()),
            busiest_ms: per_step(most),
            busiest: busiest.to_string(),
        })
    }
}

/// What one shape's run measured.
struct ShapeRun {
    /// The first step (compiling and, on a GPU, tuning its kernels), in ms.
    first_ms: f64,
    /// Every step's ms (warm-up and timed; not the profiled one), synced at its end.
    all_ms: Vec<f64>,
    /// Distinct batch shapes after each of those steps.
    shapes_by_step: Vec<usize>,
    /// The timed steps' ms and tokens (source + target, without padding).
    timed: Vec<(f64, usize)>,
    /// The host's CPU time per timed step (Linux).
    host: Option<HostCpu>,
    /// The profiled step (with `--profile`).
    profile: Option<StepProfile>,
    /// Peak memory in GiB after the timed and profiled steps: the GPU pool's reserved bytes,
    /// or the process's peak RSS.
    memory: Option<f64>,
    /// On a GPU, the live tensors' peak in one more step, sampled (`device::live_memory`),
    /// and that step's ms.
    live: Option<(LivePeak, f64)>,
    /// Every step's loss (warm-up, timed, profiled, sampled) of a model drawn from a fixed seed on
    /// fixed batches: two runs of the same shape and dtype give the same losses to rounding,
    /// whichever kernels run, so an A/B run of a kernel checks its numbers as well.
    losses: Vec<f64>,
}

impl ShapeRun {
    /// The median timed step, and the tokens/s of that same step: both figures come from
    /// one measurement, so `tokens ÷ step time` is what is printed.
    fn median(&self) -> (f64, f64) {
        let mut timed = self.timed.clone();
        timed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ms, tokens) = timed[timed.len() / 2];
        (ms, tokens as f64 / (ms / 1000.0))
    }
}

/// The profiled step: launches and host syncs, and on a GPU where its time went.
struct StepProfile {
    counts: profile::Counts,
    kernels: Option<profile::KernelProfile>,
    flops: TrainingFlops,
}

pub fn bench_train(args: TrainBench) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let device = selected.device.clone().autodiff();
    let shapes = super::bench::shape_names(&args.shapes)?;
    let reference = args
        .reference
        .as_deref()
        .map(|path| Reference::load_for(path, &selected.device))
        .transpose()?;
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    anyhow::ensure!(
        args.dtype != mixtune::model::Precision::Int8,
        "--dtype int8: training runs in f32 or f16 (int8 is for inference on the CPU)"
    );
    let torch = args
        .torch
        .as_deref()
        .map(TorchTrainReference::load)
        .transpose()?;
    anyhow::ensure!(
        torch.is_none() || !selected.is_gpu,
        "--torch: torch_cpu_train.py's figures are CPU figures; run this bench with --device cpu"
    );
    if !args.json {
        print_train_header(
            &selected.label,
            args.dtype,
            args.dropout,
            reference.as_ref(),
        );
        if (reference.is_some() || torch.is_some()) && args.dropout != REFERENCE_DROPOUT {
            println!(
                "note: the reference trains with dropout {REFERENCE_DROPOUT} (T5Config's \
                 default), this run with {}: not the same work",
                args.dropout
            );
        }
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
        let model_config = super::bench::shape_config(shape);
        let run = run_shape(
            &args,
            &model_config,
            &device,
            real.as_deref(),
            selected.is_gpu,
        )?;
        let (ms, tps) = run.median();
        let memory = run.memory;
        let hf = |dtype: &str| {
            reference
                .as_ref()
                .and_then(|r| r.find("train", shape, dtype, args.batch))
        };
        let (hf_fp32, hf_bf16) = (hf("fp32"), hf("bf16-autocast"));
        let torch_row = torch
            .as_ref()
            .and_then(|t| t.find(shape, args.batch, args.source_len, args.target_len));
        let ratio = hf_fp32.and_then(|r| r.tokens_per_s).map(|r| tps / r);
        let live_gib = run.live.map(|(live, _)| gib(live.bytes));
        let live_ratio = live_gib
            .zip(hf_fp32.and_then(|r| r.peak_gib))
            .map(|(ours, hf)| ours / hf);
        if !args.json {
            let row = TrainRow {
                shape,
                run: &run,
                memory: memory_label(memory, selected.is_gpu),
                hf: (hf_fp32, hf_bf16),
                ratio,
                torch: torch_row,
            };
            print_train_row(&args, &row, real.is_some());
        }
        let profile_json = run
            .profile
            .as_ref()
            .map(|p| super::bench_profile::to_json(&p.counts, p.kernels.as_ref(), &p.flops));
        rows.push(json!({"shapes": shape, "batch": args.batch, "source_len": args.source_len,
            "target_len": args.target_len, "dtype": args.dtype.name(), "dropout": args.dropout, "first_step_ms": run.first_ms, "median_step_ms": ms,
            "tokens_per_s": tps, "peak_memory_gib": memory,
            "step_ms": run.all_ms, "distinct_shapes_by_step": run.shapes_by_step,
            "loss_by_step": run.losses,
            "host_cpu_ms_per_step": run.host.as_ref().map(|h| h.all_ms),
            "busiest_thread_cpu_ms_per_step": run.host.as_ref().map(|h| h.busiest_ms),
            "lengths_from": args.lengths_from,
            "memory_kind": if selected.is_gpu { "gpu pool reserved (end of run)" } else { "process peak RSS" },
            "live_peak_gib": live_gib,
            "live_peak_samples": run.live.map(|(live, _)| live.samples),
            "live_sampled_step_ms": run.live.map(|(_, ms)| ms),
            "live_peak_ratio_to_hf_fp32_peak": live_ratio,
            "hf_fp32_tokens_per_s": hf_fp32.and_then(|r| r.tokens_per_s),
            "hf_fp32_peak_gib": hf_fp32.and_then(|r| r.peak_gib),
            "hf_bf16_tokens_per_s": hf_bf16.and_then(|r| r.tokens_per_s),
            "ratio_to_hf_fp32": ratio,
            "torch_cpu_tokens_per_s": torch_row.map(|r| r.tokens_per_s),
            "ratio_to_torch_cpu": torch_row.map(|r| tps / r.tokens_per_s),
            "launches_per_step": run.profile.as_ref().and_then(|p| p.counts.launches),
            "host_syncs_per_step": run.profile.as_ref().map(|p| p.counts.host_reads),
            "product_choices": product_choices(),
            "profile": profile_json}));
    }
    super::bench_reference::print_end(args.json, &selected.label, reference.as_ref(), rows);
    Ok(())
}

/// How many size classes of matrix products each kernel takes in this process, by the
/// measured choices (`kernels::product_choice`: made on the first steps, or read from the
/// kernel cache); empty without `wgpu`.
fn product_choices() -> BTreeMap<String, usize> {
    #[cfg(feature = "wgpu")]
    {
        let mut counts = BTreeMap::new();
        for record in mixtune::kernels::product_choice::known().values() {
            *counts.entry(record.chosen.clone()).or_insert(0) += 1;
        }
        counts
    }
    #[cfg(not(feature = "wgpu"))]
    BTreeMap::new()
}

/// [`product_choices`] as a line (`None` when no choice was made).
fn product_choices_line() -> Option<String> {
    let counts = product_choices();
    if counts.is_empty() {
        return None;
    }
    let each: Vec<String> = counts
        .iter()
        .map(|(kernel, classes)| format!("{kernel} {classes}"))
        .collect();
    Some(format!(
        "matrix products by kernel (size classes, each measured on this device against \
         Burn's matmul): {}",
        each.join(", ")
    ))
}

/// The dropout the references train with: T5Config's default `dropout_rate`, which
/// `hf_same_work.py` keeps and `torch_cpu_train.py` takes by default.
const REFERENCE_DROPOUT: f64 = 0.1;

/// The table's head: device, reference, column names.
fn print_train_header(
    label: &str,
    dtype: mixtune::model::Precision,
    dropout: f64,
    reference: Option<&Reference>,
) {
    println!("device: {label} ({dtype}, dropout {dropout})");
    if let Some(reference) = reference {
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

/// Peak memory in GiB: the GPU pool's reserved bytes, or the process's peak RSS.
fn peak_memory(is_gpu: bool, device: &Device) -> Option<f64> {
    if is_gpu {
        device.memory_pool_usage().map(|u| gib(u.bytes_reserved))
    } else {
        peak_rss_gib()
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn memory_label(memory: Option<f64>, is_gpu: bool) -> String {
    match (memory, is_gpu) {
        (Some(gib), true) => format!("{gib:.2} GiB pool"),
        (Some(gib), false) => format!("{gib:.2} GiB RSS"),
        (None, _) => "-".into(),
    }
}

/// One shape's figures for the table.
struct TrainRow<'a> {
    shape: &'a str,
    run: &'a ShapeRun,
    memory: String,
    /// HF's fp32 and bf16 rows, when a reference was given.
    hf: (Option<&'a ReferenceRow>, Option<&'a ReferenceRow>),
    ratio: Option<f64>,
    torch: Option<&'a TorchTrainRow>,
}

/// One table row and the lines under it (how steps were timed, each step with real
/// lengths, PyTorch's figure, the profile).
fn print_train_row(args: &TrainBench, row: &TrainRow, real_lengths: bool) {
    let run = row.run;
    let (ms, tps) = run.median();
    let show = |r: Option<&ReferenceRow>| {
        r.and_then(|r| r.tokens_per_s)
            .map_or("-".into(), |t| format!("{:.1}k", t / 1000.0))
    };
    println!(
        "{:<6} {:>5} {:>9.0} {:>10.0} {:>14.0} {:>11} {:>11} {:>11} {:>7}",
        row.shape,
        args.batch,
        run.first_ms,
        ms,
        tps,
        row.memory,
        show(row.hf.0),
        show(row.hf.1),
        row.ratio.map_or("-".into(), |r| format!("{r:.2}x"))
    );
    println!(
        "       step ms: the median of {} steps, each synced at its end; tokens/s: that \
         step's real tokens ÷ its time",
        run.timed.len()
    );
    let losses: Vec<String> = run.losses.iter().map(|l| format!("{l:.4}")).collect();
    println!(
        "       loss by step: {} (a seeded model on fixed batches: another run of this \
         shape and dtype, with other kernels, should match to rounding)",
        losses.join(" ")
    );
    if let Some(host) = &run.host {
        println!(
            "       host CPU per timed step: {:.0} ms in all threads, {:.0} ms ({:.0}% of the \
             step) in the busiest ({}): near 100%, that thread, not the device, sets the \
             pace (on a software adapter it also runs the kernels)",
            host.all_ms,
            host.busiest_ms,
            100.0 * host.busiest_ms / ms.max(1e-9),
            host.busiest
        );
    }
    if let Some((live, live_ms)) = run.live {
        let hf = row
            .hf
            .0
            .and_then(|r| r.peak_gib)
            .map_or(String::new(), |hf| {
                format!(
                    "; HF fp32's peak of live tensors {hf:.2} GiB, Mixtune ÷ HF = {:.2}x",
                    gib(live.bytes) / hf
                )
            });
        println!(
            "       live tensors at their peak: at least {:.2} GiB (sampled at {} points of \
             one more, untimed step of {live_ms:.0} ms: after the forward pass and in each \
             layer norm's and attention's backward){hf}; the memory column is the pool \
             CubeCL reserved, pages kept for reuse included",
            gib(live.bytes),
            live.samples
        );
    }
    if let Some(line) = product_choices_line() {
        println!("       {line}");
    }
    if real_lengths {
        let steps: Vec<String> = run
            .all_ms
            .iter()
            .zip(&run.shapes_by_step)
            .map(|(ms, shapes)| format!("{ms:.0}ms/{shapes}"))
            .collect();
        println!(
            "       each step (ms / distinct shapes so far): {}",
            steps.join(" ")
        );
    }
    if let Some(torch) = row.torch {
        println!(
            "       PyTorch ({}, {} threads, same work): {:.0} tokens/s; Mixtune ÷ PyTorch = {:.2}x",
            torch.engine,
            torch.threads,
            torch.tokens_per_s,
            tps / torch.tokens_per_s
        );
    }
    if let Some(p) = &run.profile {
        super::bench_profile::print(&p.counts, p.kernels.as_ref(), &p.flops);
    }
}

/// Random batches of the bench's shapes (or of lengths drawn from `real`), padded as the
/// run's batcher pads them.
fn make_batches(
    args: &TrainBench,
    real: Option<&[(usize, usize)]>,
    count: usize,
    device: &burn::tensor::Device,
) -> mixtune::Result<Vec<TrainBatch>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut make_batch = || -> mixtune::Result<TrainBatch> {
        // Each example's (source, target) length: fixed, or drawn from the data file.
        let sizes: Vec<(usize, usize)> = (0..args.batch)
            .map(|_| match real {
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
        padded_batch(&sources, &targets, tasks, [source_len, target_len], device)
    };
    (0..count).map(|_| make_batch()).collect()
}

/// One shape's steps: a warm-up step, `--steps` timed steps (each synced at its end, so the
/// optimizer's queued work counts in the step that issued it), with `--profile` one more
/// step with every kernel timed, and on a GPU one more with the live memory sampled
/// (`device::live_memory`: each sample a sync), both kept out of the timed figures.
fn run_shape(
    args: &TrainBench,
    model_config: &T5Config,
    device: &burn::tensor::Device,
    real: Option<&[(usize, usize)]>,
    is_gpu: bool,
) -> Result<ShapeRun> {
    // The same weights in every run (and dropout's draws after them).
    device.seed(0);
    let model = T5ForConditionalGeneration::random(model_config, device);
    let extra = usize::from(args.profile) + usize::from(is_gpu);
    let mut batches = make_batches(args, real, 1 + args.steps + extra, device)?;
    let mut config = TrainConfig::new("random", "none", batches.len());
    config.learning_rate = 1e-4;
    config.precision = args.dtype;
    config.dropout_rate = args.dropout;
    // The run loop's own optimizer step; the first compiles (and tunes) the kernels.
    let mut trainer = Trainer::new(model, &config, config.max_steps)?;
    let mut run = ShapeRun {
        first_ms: 0.0,
        all_ms: Vec::new(),
        shapes_by_step: Vec::new(),
        timed: Vec::new(),
        host: None,
        profile: None,
        memory: None,
        live: None,
        losses: Vec::new(),
    };
    // The last batch is the live-memory step's, run after the others.
    let sampled = match is_gpu {
        true => batches.pop().map(|batch| (batches.len(), batch)),
        false => None,
    };
    let mut host_before = BTreeMap::new();
    for (i, batch) in batches.into_iter().enumerate() {
        // Dropout's draws, the same in every run (the run loop reseeds each step too).
        device.seed(1 + i as u64);
        let [rows, source_len, target_len] = batch.shape();
        if i == args.steps + 1 {
            let fused = kernels::training_kernels_run(device, model_config.d_kv);
            let flops = training_flops(model_config, rows, source_len, target_len, fused);
            let (m, counts, kernels) =
                profile::measure_kernels(device, || trainer.step(vec![batch]));
            run.losses.push(m?.loss);
            run.profile = Some(StepProfile {
                counts,
                kernels,
                flops,
            });
            continue;
        }
        let tokens = batch.source_tokens + batch.target_tokens;
        if i == 1 {
            host_before = thread_cpu_ns();
        }
        let started = Instant::now();
        let m = trainer.step(vec![batch])?;
        let _ = device.sync();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        run.losses.push(m.loss);
        run.all_ms.push(ms);
        run.shapes_by_step.push(m.distinct_shapes);
        if i == 0 {
            run.first_ms = ms;
        } else {
            run.timed.push((ms, tokens));
            if i == args.steps {
                run.host = HostCpu::between(&host_before, &thread_cpu_ns(), args.steps);
            }
        }
    }
    // The memory column before the sampled step, whose syncs could only add to the pool.
    run.memory = peak_memory(is_gpu, device);
    if let Some((i, batch)) = sampled {
        device.seed(1 + i as u64);
        let started = Instant::now();
        let (m, live) = live_memory::sample_peak(|| trainer.step(vec![batch]));
        run.losses.push(m?.loss);
        let _ = device.sync();
        run.live = live.map(|live| (live, started.elapsed().as_secs_f64() * 1000.0));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn host_cpu_is_per_step_and_names_the_busiest_thread() {
        let reading = |pairs: &[(u64, &str, u64)]| -> BTreeMap<u64, (String, u64)> {
            pairs
                .iter()
                .map(|(tid, name, ns)| (*tid, (name.to_string(), *ns)))
                .collect()
        };
        let before = reading(&[(1, "main", 1_000_000), (2, "DSD-4-0", 5_000_000)]);
        // Thread 3 started between the readings: all of its time counts.
        let after = reading(&[
            (1, "main", 3_000_000),
            (2, "DSD-4-0", 45_000_000),
            (3, "DSD-4-1", 8_000_000),
        ]);
        let host = HostCpu::between(&before, &after, 2).unwrap();
        assert_eq!(
            host,
            HostCpu {
                all_ms: 25.0,
                busiest_ms: 20.0,
                busiest: "DSD-4-0".into()
            }
        );
        assert_eq!(HostCpu::between(&before, &BTreeMap::new(), 2), None);
        assert_eq!(HostCpu::between(&before, &after, 0), None);
        // This process's own threads, the test's among them, where the kernel counts them.
        let threads = thread_cpu_ns();
        if cfg!(target_os = "linux") && !threads.is_empty() {
            assert!(threads.values().any(|(_, ns)| *ns > 0), "{threads:?}");
        }
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: TrainBench,
    }

    /// The losses an A/B run compares come from a seeded model on fixed batches: two runs of
    /// a shape give the same ones, a loss per step (warm-up, timed, profiled).
    #[test]
    fn two_runs_of_a_shape_report_the_same_losses() {
        let args = Cli::parse_from([
            "bench",
            "--device",
            "cpu",
            "--batch",
            "2",
            "--source-len",
            "8",
            "--target-len",
            "4",
            "--steps",
            "1",
            "--profile",
        ])
        .bench;
        let mut config = T5Config::flan_t5_small();
        (config.d_model, config.d_kv, config.d_ff, config.num_heads) = (32, 8, 64, 4);
        (config.num_layers, config.num_decoder_layers) = (1, Some(1));
        let device = Device::flex().autodiff();
        let _generator = crate::cli::cpu_generator();
        let losses = || {
            run_shape(&args, &config, &device, None, false)
                .unwrap()
                .losses
        };
        let first = losses();
        assert_eq!(first.len(), 3, "{first:?}");
        assert!(first.iter().all(|l| l.is_finite() && *l > 0.0), "{first:?}");
        assert_eq!(first, losses());
    }
}
