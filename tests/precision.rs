//! Mixed precision (`--dtype f16`, `precision = "f16"`) on the tiny Flan-T5 fixture, on the
//! `flex` CPU backend (which computes f16 tensors natively, its matmuls through `gemm`'s f16
//! kernels): f16 logits and encoder states within a stated relative tolerance of f32, greedy
//! ids equal, an f16 training run's losses within tolerance of the f32 run's, the loss
//! scaler's skip/halve logic on real and constructed gradients, and resume of an f16 run equal
//! to an uninterrupted one.

mod common;

use std::path::Path;

use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use common::runs::{tensors, write_run, RUN};
use common::*;
use mixtune::generate::{generate, Decoding, GenerationConfig};
use mixtune::model::loader::load_dir;
use mixtune::model::{to_precision, Precision, Pretrained};
use mixtune::train::events::RunEvent;
use mixtune::train::loss_scale::LossScaler;
use mixtune::train::trainer::squared_grad_norm;
use mixtune::train::{run_from_file, RunControl, RunOptions, TrainConfig, Trainer};

/// f16 against f32: the largest absolute difference relative to the largest f32 magnitude.
/// f16 keeps 11 significant bits (~5e-4 relative per rounding); through 2+2 layers and a
/// 32128-way head, 1% of the peak is the stated bound.
const RELATIVE_TOLERANCE: f32 = 1e-2;
/// An f16 training run's loss at each step, relative to the f32 run's.
const LOSS_TOLERANCE: f64 = 1e-2;

fn load(device: &Device) -> Pretrained {
    load_dir(&tiny_flan(), device).expect("fixture loads")
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// `max |a - b| / max |b|`.
fn relative_diff(a: &[f32], b: &[f32]) -> f32 {
    let peak = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    max_abs_diff(a, b) / peak.max(f32::MIN_POSITIVE)
}

/// Decoder logits of the first 8 target positions (as `parity.rs`).
fn logits_first8(pretrained: &Pretrained, device: &Device) -> Tensor<3> {
    let (ids, mask) = reference_inputs(device);
    let labels = reference_labels();
    let steps = 8;
    let mut decoder_inputs = Vec::new();
    for row in &labels {
        decoder_inputs.push(0i64);
        decoder_inputs.extend(row[..steps - 1].iter().map(|&l| if l < 0 { 0 } else { l }));
    }
    let decoder_inputs = Tensor::<2, Int>::from_data(
        TensorData::new(decoder_inputs, [labels.len(), steps]),
        device,
    );
    pretrained.model.forward(ids, mask, decoder_inputs)
}

#[test]
fn f16_weights_are_cast_once_and_wo_stays_f32() {
    let device = Device::flex();
    let pretrained = load(&device);
    let model = to_precision(pretrained.model, Precision::F16);
    assert_eq!(model.compute_dtype, DType::F16);
    assert_eq!(model.shared.val().dtype(), DType::F16);
    let block = &model.encoder.blocks[0];
    assert_eq!(block.ff.layer_norm.weight.val().dtype(), DType::F16);
    assert_eq!(
        block.self_attention.self_attention.q.weight.val().dtype(),
        DType::F16
    );
    assert_eq!(
        block.ff.dense_relu_dense.wo().weight.val().dtype(),
        DType::F32
    );
    // And back.
    let model = to_precision(model, Precision::F32);
    assert_eq!(model.shared.val().dtype(), DType::F32);
    assert_eq!(model.compute_dtype, DType::F32);
}

#[test]
fn f16_encoder_states_and_logits_are_within_tolerance_of_f32() {
    let device = Device::flex();
    let f32_model = load(&device);
    let mut f16_model = load(&device);
    f16_model.model = to_precision(f16_model.model, Precision::F16);

    let (ids, mask) = reference_inputs(&device);
    let encoded_f32 = host(f32_model.model.encode(ids.clone(), mask.clone()));
    let encoded = f16_model.model.encode(ids, mask);
    assert_eq!(encoded.dtype(), DType::F16, "the encoder computes in f16");
    let encoded_f16 = host(encoded);
    let diff = relative_diff(&encoded_f16, &encoded_f32);
    println!("encoder states: f16 vs f32 relative diff {diff:.2e}");
    assert!(diff < RELATIVE_TOLERANCE, "encoder relative diff {diff}");

    let logits_f32 = host(logits_first8(&f32_model, &device));
    let logits = logits_first8(&f16_model, &device);
    assert_eq!(logits.dtype(), DType::F32, "logits come back in f32");
    let logits_f16 = host(logits);
    assert!(logits_f16.iter().all(|v| v.is_finite()));
    let diff = relative_diff(&logits_f16, &logits_f32);
    println!("logits: f16 vs f32 relative diff {diff:.2e}");
    assert!(diff < RELATIVE_TOLERANCE, "logits relative diff {diff}");
    // And against HF's f32 logits.
    let expected = reference_tensor("logits_first8");
    let diff = relative_diff(&logits_f16, &expected.f32);
    assert!(
        diff < RELATIVE_TOLERANCE,
        "logits vs HF relative diff {diff}"
    );

    let loss_f32: f32 = f32_model
        .model
        .loss(
            reference_inputs(&device).0,
            reference_inputs(&device).1,
            &reference_labels(),
        )
        .into_scalar();
    let loss_f16: f32 = f16_model
        .model
        .loss(
            reference_inputs(&device).0,
            reference_inputs(&device).1,
            &reference_labels(),
        )
        .into_scalar();
    println!("loss: f32 {loss_f32}, f16 {loss_f16}");
    assert!(((loss_f16 - loss_f32) / loss_f32).abs() < 1e-3);
}

/// Greedy ids of 24 new tokens for the fixture's prompts.
fn greedy_24(pretrained: &Pretrained) -> Vec<Vec<u32>> {
    let (prompts, _) = prompts_and_targets();
    let prompts = pretrained.tokenizer.encode_batch(&prompts).unwrap();
    let config = GenerationConfig {
        max_new_tokens: 24,
        ..Default::default()
    };
    let decoding = Decoding {
        config: &config,
        defaults: &pretrained.defaults,
        vocab_limit: 32128,
    };
    generate(&pretrained.model, &prompts, decoding).unwrap()
}

#[test]
fn f16_greedy_ids_equal_f32() {
    let device = Device::flex();
    let f32_model = load(&device);
    let mut f16_model = load(&device);
    f16_model.model = to_precision(f16_model.model, Precision::F16);
    let started = std::time::Instant::now();
    let ids_f32 = greedy_24(&f32_model);
    let f32_ms = started.elapsed().as_millis();
    let started = std::time::Instant::now();
    let ids_f16 = greedy_24(&f16_model);
    let f16_ms = started.elapsed().as_millis();
    println!(
        "greedy 24 tokens, {} prompts: f32 {f32_ms} ms, f16 {f16_ms} ms",
        ids_f32.len()
    );
    assert_eq!(ids_f16, ids_f32);
}

fn train_config(precision: Precision) -> TrainConfig {
    let mut config = TrainConfig::new("tiny", "mix.toml", 20);
    config.learning_rate = 1e-3;
    // Constant: a skipped f16 step is then exactly a no-op, so the applied steps line up
    // with the f32 run's.
    config.schedule = mixtune::train::ScheduleKind::Constant;
    config.precision = precision;
    config
}

fn trainer(precision: Precision, device: &Device) -> Trainer {
    let config = train_config(precision);
    Trainer::new(load(device).model, &config, config.max_steps).unwrap()
}

#[test]
fn f16_training_losses_follow_the_f32_run() {
    let device = Device::flex().autodiff();
    let batch = reference_batch(&device);
    let applied = 5;

    let mut f32_trainer = trainer(Precision::F32, &device);
    let started = std::time::Instant::now();
    let f32_run: Vec<_> = (0..applied)
        .map(|_| f32_trainer.step(vec![batch.clone()]).unwrap())
        .collect();
    let f32_ms = started.elapsed().as_millis();
    assert!(f32_run.iter().all(|m| m.loss_scale.is_none()));

    // f16: steps until `applied` of them were not skipped (the scale settles first).
    let mut f16_trainer = trainer(Precision::F16, &device);
    let started = std::time::Instant::now();
    let mut f16_run = Vec::new();
    let mut skipped = 0;
    while f16_run.len() < applied {
        let m = f16_trainer.step(vec![batch.clone()]).unwrap();
        let report = m.loss_scale.clone().expect("f16 steps report the scale");
        if report.skipped {
            skipped += 1;
            assert!(skipped <= 10, "the scale should settle within 10 halvings");
        } else {
            f16_run.push(m);
        }
    }
    let f16_ms = started.elapsed().as_millis();
    let scaler = f16_trainer.loss_scaler().unwrap();
    println!(
        "f32: {applied} steps in {f32_ms} ms, losses {:?}",
        f32_run.iter().map(|m| m.loss).collect::<Vec<_>>()
    );
    println!(
        "f16: {} steps ({skipped} skipped) in {f16_ms} ms, final scale {}, losses {:?}",
        applied + skipped,
        scaler.scale,
        f16_run.iter().map(|m| m.loss).collect::<Vec<_>>()
    );
    assert_eq!(scaler.skipped_steps, skipped);
    assert_eq!(scaler.scale, 65536.0 / 2f64.powi(skipped as i32));
    for (a, b) in f32_run.iter().zip(&f16_run) {
        let relative = ((b.loss - a.loss) / a.loss).abs();
        assert!(
            relative < LOSS_TOLERANCE,
            "applied step {}: f16 loss {} vs f32 {}",
            a.step,
            b.loss,
            a.loss
        );
        let norm = ((b.grad_norm - a.grad_norm) / a.grad_norm).abs();
        assert!(
            norm < 5e-2,
            "applied step {}: grad norm {} vs {}",
            a.step,
            b.grad_norm,
            a.grad_norm
        );
    }
    assert!(
        f16_run.last().unwrap().loss < f16_run[0].loss,
        "f16 training learns"
    );
    // The master weights stay f32.
    assert_eq!(f16_trainer.model().shared.val().dtype(), DType::F32);
    assert_eq!(f16_trainer.model().compute_dtype, DType::F16);
}

/// f16 training reads f16 working copies of the weights, written by each update
/// (`train::working_copy`), where it used to cast each f32 master at use: after every step
/// the working model holds exactly the masters cast to f16 (those read in f32 are the
/// masters themselves), and the run equals one that casts at use, bit for bit.
#[test]
fn f16_working_copies_follow_the_masters_and_train_as_casts_at_use() {
    let device = Device::flex().autodiff();
    let batch = reference_batch(&device);
    let mut copies = trainer(Precision::F16, &device);
    let mut at_use = trainer(Precision::F16, &device).with_working_copies(false);
    assert!(copies.working_model().is_none(), "made at the first step");
    let mut applied = 0;
    for step in 1..=4 {
        let a = copies.step(vec![batch.clone()]).unwrap();
        let b = at_use.step(vec![batch.clone()]).unwrap();
        assert_eq!(a.loss_scale, b.loss_scale, "step {step}: the same skips");
        assert_eq!((a.loss, a.grad_norm), (b.loss, b.grad_norm), "step {step}");

        let refresh = copies.working_refresh().unwrap();
        if step > 1 && !a.loss_scale.as_ref().unwrap().skipped {
            applied += 1;
            // Every f16-read weight is trained here, so every copy came from its update.
            assert_eq!(
                (refresh.kept, refresh.cast),
                (0, 0),
                "step {step}: {refresh:?}"
            );
            assert!(refresh.from_updates > 20, "step {step}: {refresh:?}");
        }
        let master = copies.model();
        let working = copies
            .working_model()
            .expect("an f16 run has a working model");
        assert!(at_use.working_model().is_none());
        let copy_of = |name: &str, master: Tensor<2>, working: Tensor<2>| {
            assert_eq!(working.dtype(), DType::F16, "{name}");
            assert_eq!(
                host(working.inner()),
                host(master.inner().cast(DType::F16)),
                "step {step}: {name}'s working copy is its master in f16"
            );
        };
        let (m, w) = (&master.encoder.blocks[0], &working.encoder.blocks[0]);
        copy_of(
            "encoder q",
            m.self_attention.self_attention.q.weight.val(),
            w.self_attention.self_attention.q.weight.val(),
        );
        let (m, w) = (&master.decoder.blocks[1], &working.decoder.blocks[1]);
        copy_of(
            "decoder cross k",
            m.cross_attention.enc_dec_attention.k.weight.val(),
            w.cross_attention.enc_dec_attention.k.weight.val(),
        );
        // Read in f32: the master itself (the fixture's head is the shared table, tied, cast
        // at use).
        let same = |name: &str, master: Tensor<2>, working: Tensor<2>| {
            assert_eq!(working.dtype(), DType::F32, "{name}");
            assert_eq!(
                host(working.inner()),
                host(master.inner()),
                "step {step}: {name}"
            );
        };
        same(
            "wo",
            m.ff.dense_relu_dense.wo().weight.val(),
            w.ff.dense_relu_dense.wo().weight.val(),
        );
        same("shared", master.shared.val(), working.shared.val());
        same(
            "decoder ff norm",
            m.ff.layer_norm.weight.val().unsqueeze(),
            w.ff.layer_norm.weight.val().unsqueeze(),
        );
    }
    assert!(applied >= 2, "steps 2-4 applied: {applied}");
    let (a, b) = (copies.into_model(), at_use.into_model());
    assert_eq!(a.shared.val().dtype(), DType::F32, "masters stay f32");
    assert_eq!(host(a.shared.val().inner()), host(b.shared.val().inner()));
    let q = |m: &mixtune::model::T5ForConditionalGeneration| {
        host(
            m.decoder.blocks[0]
                .self_attention
                .self_attention
                .q
                .weight
                .val()
                .inner(),
        )
    };
    assert_eq!(q(&a), q(&b));
}

/// LoRA in f16: the frozen weights are cast to their working copies once and kept, the
/// adapted ones and their adapters keep the master and the cast at use (Burn merges
/// `W + A·B·scale` in f32 first), and the run equals one that casts everything at use.
#[test]
fn f16_lora_casts_frozen_weights_once_and_trains_as_casts_at_use() {
    let device = Device::flex().autodiff();
    let batch = reference_batch(&device);
    let settings = mixtune::train::config::LoraSettings::default(); // q and v, rank 8
    let model = mixtune::train::lora::apply(load(&device).model, &settings).unwrap();
    let mut config = train_config(Precision::F16);
    config.learning_rate = 1e-2;
    let mut copies = Trainer::new(model.clone(), &config, config.max_steps).unwrap();
    let mut at_use = Trainer::new(model, &config, config.max_steps)
        .unwrap()
        .with_working_copies(false);
    let mut applied = 0;
    for step in 1..=4 {
        let a = copies.step(vec![batch.clone()]).unwrap();
        let b = at_use.step(vec![batch.clone()]).unwrap();
        assert_eq!((a.loss, a.grad_norm), (b.loss, b.grad_norm), "step {step}");
        assert_eq!(a.loss_scale, b.loss_scale, "step {step}");
        let refresh = copies.working_refresh().unwrap();
        if step > 1 {
            // Only adapters train, and they keep their masters: no copy is made or cast.
            assert_eq!((refresh.from_updates, refresh.cast), (0, 0), "step {step}");
            assert!(refresh.kept >= 16, "step {step}: {refresh:?}");
        }
        applied += usize::from(!a.loss_scale.unwrap().skipped);
        let working = copies.working_model().unwrap();
        let q = &working.encoder.blocks[0]
            .self_attention
            .self_attention
            .q
            .weight;
        assert!(q.adapter().is_some());
        assert_eq!(
            q.val().dtype(),
            DType::F32,
            "an adapted weight keeps its master"
        );
        let k = &working.encoder.blocks[0]
            .self_attention
            .self_attention
            .k
            .weight;
        assert_eq!(k.val().dtype(), DType::F16, "a frozen one reads its copy");
    }
    assert!(applied >= 2, "{applied} steps applied");
    let adapter_b = |t: Trainer| {
        let model = t.into_model();
        let q = &model.decoder.blocks[0]
            .self_attention
            .self_attention
            .q
            .weight;
        host(q.adapter().unwrap().b.val().inner())
    };
    let (a, b) = (adapter_b(copies), adapter_b(at_use));
    assert!(a.iter().any(|v| *v != 0.0), "the adapter trained");
    assert_eq!(a, b);
}

#[test]
fn overflowing_f16_gradients_skip_the_step_and_halve_the_scale() {
    let device = Device::flex().autodiff();
    let batch = reference_batch(&device);
    // A scale so large that the scaled gradients overflow f16: every step is skipped.
    let huge = 2f64.powi(40);
    let mut trainer =
        trainer(Precision::F16, &device).with_loss_scaler(Some(LossScaler::new(huge)));
    let before = host(trainer.model().shared.val().inner());
    let metrics = trainer.step(vec![batch.clone()]).unwrap();
    let report = metrics.loss_scale.clone().unwrap();
    assert!(report.skipped, "{report:?}");
    assert_eq!(report.scale, huge);
    assert_eq!(report.skipped_steps, 1);
    assert_eq!(metrics.grad_norm, 0.0);
    assert!(metrics.loss.is_finite());
    assert_eq!(trainer.loss_scaler().unwrap().scale, huge / 2.0);
    assert_eq!(metrics.step, 1, "a skipped step still counts");
    let after = host(trainer.model().shared.val().inner());
    assert!(before == after, "a skipped step leaves the weights alone");

    // From a sane scale the next step applies and the weights move.
    let mut trainer = trainer.with_loss_scaler(Some(LossScaler::new(1024.0)));
    let metrics = trainer.step(vec![batch]).unwrap();
    assert!(!metrics.loss_scale.unwrap().skipped);
    assert!(metrics.grad_norm > 0.0 && metrics.grad_norm.is_finite());
    assert!(host(trainer.model().shared.val().inner()) != before);
}

#[test]
fn constructed_inf_gradients_read_as_an_overflow() {
    let device = Device::flex();
    let model = load(&device).model;
    let shape = model.shared.val().dims();
    let mut grads = GradientsParams::new();
    grads.register::<2>(model.shared.id, Tensor::<2>::ones(shape, &device));
    let norm: f32 = squared_grad_norm(&model, &grads).into_scalar();
    assert_eq!(norm, (shape[0] * shape[1]) as f32);
    let mut scaler = LossScaler::default();
    assert!(scaler.update(norm.is_finite()).apply);
    assert_eq!(scaler.scale, 65536.0);

    let mut values = vec![0.5f32; shape[0] * shape[1]];
    values[7] = f32::INFINITY;
    let mut grads = GradientsParams::new();
    grads.register::<2>(
        model.shared.id,
        Tensor::<2>::from_data(TensorData::new(values, shape), &device),
    );
    let norm: f32 = squared_grad_norm(&model, &grads).into_scalar();
    let decision = scaler.update(norm.is_finite());
    assert!(!decision.apply, "inf gradient: step skipped");
    assert_eq!(scaler.scale, 32768.0, "scale halved");
    assert_eq!(scaler.skipped_steps, 1);
}

fn run(dir: &Path, resume: bool, events: &mut Vec<RunEvent>) -> mixtune::train::events::RunSummary {
    common::runs::run(dir, resume, &RunControl::new(), &mut |e| {
        events.push(e.clone())
    })
    .unwrap()
}

#[test]
fn resumed_f16_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let extra = "max_steps = 4\nsave_every = 2\nkeep_best = false\nprecision = \"f16\"\n";
    let straight = tempfile::tempdir().unwrap();
    write_run(straight.path(), 20, 0, extra);
    let mut events = Vec::new();
    assert_eq!(run(straight.path(), false, &mut events).steps, 4);
    let scales: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step(m) => m.loss_scale.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(scales.len(), 4, "every f16 step reports its scale");

    let split = tempfile::tempdir().unwrap();
    write_run(split.path(), 20, 0, extra);
    let control = RunControl::new();
    {
        let _guard = RUN.lock().unwrap_or_else(|e| e.into_inner());
        let c = control.clone();
        let summary = run_from_file(
            &split.path().join("run.toml"),
            &Device::flex(),
            &RunOptions::default(),
            &control,
            &mut |e| {
                if matches!(e, RunEvent::Step(m) if m.step == 2) {
                    c.cancel();
                }
            },
        )
        .unwrap();
        assert_eq!(summary.steps, 2);
    }
    // The checkpoint holds the scaler.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(split.path().join("out/checkpoints/step-0000002/state.json"))
            .unwrap(),
    )
    .unwrap();
    // ... as the straight run's scaler stood after step 2.
    let reports: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step(m) => m.loss_scale.clone(),
            _ => None,
        })
        .collect();
    let skipped_by_2 = reports[1].skipped_steps;
    assert_eq!(
        state["loss_scale"]["skipped_steps"], skipped_by_2,
        "{state}"
    );
    assert_eq!(state["loss_scale"]["scale"], reports[2].scale, "{state}");
    let mut second = Vec::new();
    assert_eq!(run(split.path(), true, &mut second).steps, 4);

    let a = tensors(&straight.path().join("out/model/model.safetensors"));
    let b = tensors(&split.path().join("out/model/model.safetensors"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, (_, values)) in &a {
        assert!(values == &b[name].1, "{name} differs after resume");
    }
    let resumed: Vec<_> = second
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step(m) => Some((m.step, m.loss, m.loss_scale.clone())),
            _ => None,
        })
        .collect();
    let straight_steps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Step(m) => Some((m.step, m.loss, m.loss_scale.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(resumed, straight_steps[2..].to_vec());
}

#[test]
fn bf16_in_run_toml_is_refused_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 4, 0, "max_steps = 1\nprecision = \"bf16\"\n");
    let err = TrainConfig::from_file(&dir.path().join("run.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("run.toml"), "{err}");
    assert!(err.contains("precision") && err.contains("bf16"), "{err}");
}

/// int8 logits against f32 on the fixture: relative to the largest f32 logit. Weights are
/// 8-bit per output channel and activations 8-bit per row at every product, through 2+2
/// layers and the head.
const INT8_TOLERANCE: f32 = 5e-2;

#[test]
fn int8_logits_and_greedy_tokens_follow_f32() {
    let device = Device::flex();
    let f32_model = load(&device);
    let mut int8_model = load(&device);
    int8_model.model = to_precision(int8_model.model, Precision::Int8);
    let exact = host(logits_first8(&f32_model, &device));
    let quantized = host(logits_first8(&int8_model, &device));
    let relative = relative_diff(&quantized, &exact);
    let (ids_f32, ids_int8) = (greedy_24(&f32_model), greedy_24(&int8_model));
    let total: usize = ids_f32.iter().map(Vec::len).sum();
    let equal: usize = ids_f32
        .iter()
        .zip(&ids_int8)
        .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x == y).count())
        .sum();
    println!(
        "int8 on the fixture: logits within {relative:.4} of the peak; {equal} of {total} greedy tokens equal to f32's"
    );
    assert!(relative > 0.0, "int8 must not silently compute in f32");
    assert!(relative < INT8_TOLERANCE, "{relative}");
}

/// `mixtune bench generate --model DIR --dtype int8` times the folder's own model and
/// reports the share of greedy tokens equal to f32's on its weights.
#[test]
fn the_int8_bench_reports_agreement_on_a_given_model() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args([
            "bench", "generate", "--device", "cpu", "--dtype", "int8", "--json",
        ])
        .args([
            "--batch",
            "2",
            "--runs",
            "1",
            "--new-tokens",
            "8",
            "--model",
        ])
        .arg(tiny_flan())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &report["results"][0];
    assert_eq!(row["dtype"], "int8");
    let equal = row["int8_tokens_equal_to_f32"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&equal) && equal > 0.5, "{row}");
}
