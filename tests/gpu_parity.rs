//! The fixture forward on a wgpu device (a real GPU, or lavapipe in CI), against the same
//! HF reference as the CPU parity tests. Built only with `--features wgpu`; without a usable
//! adapter each test prints why it skipped.
#![cfg(feature = "wgpu")]

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use mixtune::device::{select, DeviceChoice};
use mixtune::generate::{generate, Decoding, GenerationConfig};
use mixtune::model::loader::load_dir;

/// f32 on a GPU sums in another order than PyTorch on CPU; 1e-4 still holds on this model.
const TOLERANCE: f32 = 1e-4;

/// CubeCL has one launch-observer slot per process: a test that observes launches holds this,
/// so two observations never overlap (the later one's end would uninstall the earlier's).
/// Other tests' launches still reach an observer, so these tests assert lower bounds.
static OBSERVING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn gpu_forward_and_greedy_match_reference() {
    let selected = match select(DeviceChoice::Gpu) {
        Ok(selected) => selected,
        Err(reason) => {
            println!("skipped: no wgpu device: {reason}");
            return;
        }
    };
    println!("device: {}", selected.label);
    let device = selected.device;
    let pretrained = load_dir(&tiny_flan(), &device).unwrap();
    // Inference on the GPU multiplies by the packed projections (q|k|v, k|v, wi_0|wi_1).
    assert!(pretrained.model.packed_projections.is_some());
    let ids = reference_tensor("input_ids");
    let mask = reference_tensor("attention_mask");
    let [b, s] = [ids.shape[0], ids.shape[1]];
    let mask_f: Vec<f32> = mask.i64.iter().map(|&m| m as f32).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids.i64.clone(), [b, s]), &device);
    let mask_t = Tensor::<2>::from_data(TensorData::new(mask_f, [b, s]), &device);
    let hidden = pretrained.model.encode(input, mask_t);
    let hidden: Vec<f32> = hidden.into_data().convert::<f32>().try_into_vec().unwrap();
    let diff = max_abs_diff(&hidden, &reference_tensor("encoder_last_hidden_state").f32);
    assert!(diff < TOLERANCE, "encoder on GPU differs by {diff}");

    let (prompts, _) = prompts_and_targets();
    let prompt_ids = pretrained.tokenizer.encode_batch(&prompts).unwrap();
    let config = GenerationConfig {
        max_new_tokens: 24,
        ..Default::default()
    };
    let out = generate(
        &pretrained.model,
        &prompt_ids,
        Decoding {
            config: &config,
            defaults: &pretrained.defaults,
            vocab_limit: 32128,
        },
    )
    .unwrap();
    let expected: Vec<Vec<u32>> = reference_json()["generate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g["greedy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    assert_eq!(out, expected);

    // The f16 model decodes through the f16 decode kernel (and the per-element clamp): the
    // same greedy ids.
    let model = mixtune::model::to_precision(pretrained.model, mixtune::model::Precision::F16);
    assert!(model.packed_projections.is_some(), "packed again in f16");
    let started = std::time::Instant::now();
    let decoding = Decoding {
        config: &config,
        defaults: &pretrained.defaults,
        vocab_limit: 32128,
    };
    let out_f16 = generate(&model, &prompt_ids, decoding).unwrap();
    println!("f16 greedy in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(out_f16, expected, "f16 greedy ids on the GPU");
}

/// `bench train --profile`'s mechanics on a wgpu device: one training step of the fixture
/// with every kernel timed; the kinds account for every launch, the optimizer's launches are
/// told apart by the trainer's mark, and the matmuls are found by name.
#[test]
fn a_profiled_training_step_accounts_for_its_kernels() {
    use mixtune::device::profile::{measure_kernels, KernelKind, Timing};
    use mixtune::train::{TrainBatch, TrainConfig, Trainer};

    let Ok(selected) = select(DeviceChoice::Gpu) else {
        println!("skipped: no wgpu device");
        return;
    };
    let device = selected.device.autodiff();
    let model = load_dir(&tiny_flan(), &device).unwrap().model;
    let config = TrainConfig::new("fixture", "none", 3);
    let mut trainer = Trainer::new(model, &config, 3).unwrap();
    let batch = || {
        let (input_ids, attention_mask) = reference_inputs(&device);
        TrainBatch {
            input_ids,
            attention_mask,
            labels: reference_labels(),
            tasks: vec!["t".into(); 4],
            source_tokens: 1,
            target_tokens: 1,
        }
    };
    trainer.step(vec![batch()]).unwrap(); // compiles the kernels
    let observing = OBSERVING.lock().unwrap_or_else(|e| e.into_inner());
    let (step, counts, profile) = measure_kernels(&device, || trainer.step(vec![batch()]));
    drop(observing);
    step.unwrap();
    let profile = profile.expect("a wgpu device has a kernel profile");
    println!(
        "{} launches, {:?}, {:.2} ms in kernels",
        profile.launches,
        profile.timing,
        profile.kernel_seconds() * 1e3
    );
    for kernel in profile.kernels.iter().take(15) {
        println!("  {:?} {} x{}", kernel.kind, kernel.name, kernel.launches);
    }
    assert_eq!(counts.launches, Some(profile.launches));
    assert_eq!(
        counts.host_reads, 1,
        "one read of loss and gradient norm per step"
    );
    let kinds = profile.by_kind();
    assert_eq!(
        kinds.iter().map(|k| k.launches).sum::<usize>(),
        profile.launches
    );
    let launches_of = |kind| {
        kinds
            .iter()
            .find(|k| k.kind == kind)
            .map_or(0, |k| k.launches)
    };
    assert!(launches_of(KernelKind::Gemm) > 0, "{kinds:?}");
    assert!(launches_of(KernelKind::Optimizer) > 0, "{kinds:?}");
    assert_ne!(profile.timing, Timing::None, "no launch was timed");
    assert!(profile.timed_launches > 0 && profile.kernel_seconds() > 0.0);

    // `bench train`'s live-memory step: sampled after the forward pass, in every layer
    // norm's backward (and the attentions'), and after the backward pass, where the weights,
    // AdamW's two moments (made by the steps before) and the gradients all live: at least
    // four times the f32 parameters' bytes. Not more than the pool holds.
    use burn::module::Module;
    use mixtune::device::live_memory::sample_peak;
    let (step, live) = sample_peak(|| trainer.step(vec![batch()]));
    step.unwrap();
    let live = live.expect("a wgpu device reports its memory");
    let config = trainer.model().config.clone();
    let norms = 2 * config.num_layers + 1 + 3 * config.decoder_layers() + 1;
    assert!(
        live.samples >= norms + 2,
        "{live:?}: expected a sample in each of the {norms} layer norms' backward steps"
    );
    let param_bytes = 4 * trainer.model().num_params() as u64;
    assert!(
        live.bytes >= 4 * param_bytes,
        "{live:?}: under weights + moments + gradients ({param_bytes} bytes each)"
    );
    let reserved = device.memory_pool_usage().unwrap().bytes_reserved;
    assert!(
        live.bytes <= reserved,
        "{live:?} above the pool's {reserved}"
    );
}

/// On a GPU the run loop says, before the step, that a new batch shape's kernels are being
/// prepared, and a later run on this machine finds the shape in the record.
/// The GPU, a kernel cache folder of its own and run options that use it (passed in: setting
/// `MIXTUNE_KERNEL_CACHE` here would race the other tests' threads, and the GPU driver's,
/// reading the environment); `None`, saying so, without a wgpu device.
fn gpu_for_runs() -> Option<(
    mixtune::device::SelectedDevice,
    tempfile::TempDir,
    mixtune::train::RunOptions,
)> {
    let Ok(selected) = select(DeviceChoice::Gpu) else {
        println!("skipped: no wgpu device");
        return None;
    };
    let cache = tempfile::tempdir().unwrap();
    let options = mixtune::train::RunOptions {
        kernel_cache: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    Some((selected, cache, options))
}

#[test]
fn a_gpu_run_announces_each_new_batch_shape_and_remembers_it() {
    use mixtune::train::events::RunEvent;
    use mixtune::train::{run_from_file, RunControl};

    let Some((selected, cache, options)) = gpu_for_runs() else {
        return;
    };
    let run = |dir: &std::path::Path| {
        common::runs::write_run(dir, 4, 0, "max_steps = 1\n");
        let mut events = Vec::new();
        run_from_file(
            &dir.join("run.toml"),
            &selected.device,
            &options,
            &RunControl::new(),
            &mut |event: &RunEvent| events.push(event.clone()),
        )
        .unwrap();
        events
    };
    let first = tempfile::tempdir().unwrap();
    let events = run(first.path());
    let mut announced = Vec::new();
    let mut shapes = 0;
    for event in &events {
        match event {
            RunEvent::PreparingKernels { step, cached, .. } => {
                assert!(!cached, "a fresh kernel cache knows no shape");
                announced.push(*step);
            }
            RunEvent::Step(m) if m.distinct_shapes > shapes => {
                shapes = m.distinct_shapes;
                assert_eq!(
                    announced.last(),
                    Some(&m.step),
                    "step {} not announced",
                    m.step
                );
            }
            _ => {}
        }
    }
    assert_eq!(announced.first(), Some(&1), "{events:?}");
    let again = tempfile::tempdir().unwrap();
    let events = run(again.path());
    let cached: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::PreparingKernels { cached, .. } => Some(*cached),
            _ => None,
        })
        .collect();
    assert_eq!(cached.len(), announced.len());
    assert!(
        cached.iter().all(|&c| c),
        "the same shapes again: {cached:?}"
    );
    let kept: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(kept.len(), 1, "the record is in the given folder: {kept:?}");
}

/// A GPU run stopped after step 2 and resumed by the CLI (a process of its own, as a user
/// resumes) ends with the weights of an uninterrupted 3-step run: the checkpoint's optimizer
/// state comes back through Burn's default device, which `main` pins to the CPU, onto the
/// GPU. Without that state AdamW's third update would differ by about its learning rate.
#[test]
fn a_resumed_gpu_run_ends_with_the_weights_of_an_uninterrupted_one() {
    use common::runs::{tensors, write_run};
    use mixtune::train::events::RunEvent;
    use mixtune::train::{run_from_file, RunControl};

    let Some((selected, cache, options)) = gpu_for_runs() else {
        return;
    };
    let config = "max_steps = 3\nsave_every = 1\nkeep_last = 0\n";
    let run = |dir: &std::path::Path, stop_after: Option<usize>| {
        let control = RunControl::new();
        let c = control.clone();
        run_from_file(
            &dir.join("run.toml"),
            &selected.device,
            &options,
            &control,
            &mut |event: &RunEvent| {
                if matches!(event, RunEvent::Step(m) if Some(m.step) == stop_after) {
                    c.cancel();
                }
            },
        )
        .unwrap()
    };
    let straight = tempfile::tempdir().unwrap();
    write_run(straight.path(), 8, 0, config);
    assert_eq!(run(straight.path(), None).steps, 3);
    let split = tempfile::tempdir().unwrap();
    write_run(split.path(), 8, 0, config);
    assert_eq!(run(split.path(), Some(2)).steps, 2);

    let resumed = std::process::Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["train", "--device", "gpu", "--json", "--resume", "--config"])
        .arg(split.path().join("run.toml"))
        .env_remove("BURN_DEVICE")
        .env("MIXTUNE_KERNEL_CACHE", cache.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(stdout.contains("\"start_step\":2"), "{stdout}");

    let a = tensors(&straight.path().join("out/model/model.safetensors"));
    let b = tensors(&split.path().join("out/model/model.safetensors"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let worst = a
        .iter()
        .flat_map(|(name, (_, x))| x.iter().zip(&b[name].1).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max);
    println!("largest difference after resume: {worst:e}");
    // A new process may tune its kernels differently (lavapipe: 1.2e-7 here, 9.5e-7 in CI).
    assert!(worst <= 1e-4, "resumed weights differ by up to {worst:e}");
}

/// Mixed precision on a wgpu device: f16 training steps of the fixture (f16 matmuls over f32
/// master weights, dynamic loss scaling) follow the f32 run's losses (on flex, where it is
/// cheap: `tests/precision.rs` checks f16 there too) within 1% relative, and learn.
#[test]
fn f16_training_on_the_gpu_follows_f32() {
    let Ok(selected) = select(DeviceChoice::Gpu) else {
        println!("skipped: no wgpu device");
        return;
    };
    assert_f16_follows_f32(&tiny_flan(), &selected.device, &selected.label);
}

/// The same for a model with Flan-T5's head size (the fixture's config with `d_kv` 64, random
/// weights), where the adapter has cooperative matrices (Mesa 26.1's lavapipe; not CI's): its
/// f16 attention runs on them, forward and backward, inside real training steps (loss
/// scaling, the update), and the losses still follow f32's on flex within 1%.
#[test]
fn f16_training_on_cooperative_matrices_follows_f32() {
    use burn::tensor::{DType, Device};
    use mixtune::kernels::attention_coop_shape;
    use mixtune::model::export::export_hf_dir;
    use mixtune::model::{T5Config, T5ForConditionalGeneration};

    let Ok(selected) = select(DeviceChoice::Gpu) else {
        println!("skipped: no wgpu device");
        return;
    };
    let Some(shape) = attention_coop_shape(&selected.device.clone().autodiff(), DType::F16, 64)
    else {
        println!(
            "skipped: no cooperative-matrix attention on {}",
            selected.label
        );
        return;
    };
    println!("cooperative matrices: {shape:?}");
    let fixture = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let mut config: T5Config = fixture.model.config.clone();
    (config.d_kv, config.num_heads) = (64, 2);
    let dir = tempfile::tempdir().unwrap();
    let model = T5ForConditionalGeneration::new(&config, &Device::flex());
    export_hf_dir(&model, &fixture.tokenizer, &fixture.defaults, dir.path()).unwrap();
    let observing = OBSERVING.lock().unwrap_or_else(|e| e.into_inner());
    let (_, launches) = mixtune::device::profile::launches_by_kernel(&selected.device, || {
        assert_f16_follows_f32(dir.path(), &selected.device, &selected.label)
    });
    drop(observing);
    let launches = launches.expect("a wgpu device counts launches");
    let coop: usize = launches
        .iter()
        .filter(|(kernel, _)| kernel.contains("CoopAttention"))
        .map(|(_, n)| n)
        .sum();
    // Three attentions a layer, three kernels each, over the applied and skipped steps.
    assert!(
        coop >= 9,
        "cooperative-matrix attention launches: {launches:?}"
    );
}

/// Three applied f16 training steps of the model in `dir` on `gpu` against f32 steps on flex
/// (the same batch, constant learning rate): the losses agree within 1% and fall.
fn assert_f16_follows_f32(dir: &std::path::Path, gpu: &burn::tensor::Device, label: &str) {
    use burn::tensor::Device;
    use mixtune::model::Precision;
    use mixtune::train::{TrainConfig, Trainer};

    let applied = 3;
    let run = |precision: Precision, device: Device| -> Vec<f64> {
        let mut config = TrainConfig::new("tiny", "mix.toml", 20);
        config.learning_rate = 1e-3;
        // Constant: a skipped f16 step is a no-op, so the applied steps line up with f32's.
        config.schedule = mixtune::train::ScheduleKind::Constant;
        config.precision = precision;
        let batch = reference_batch(&device);
        let model = load_dir(dir, &device).unwrap().model;
        let mut trainer = Trainer::new(model, &config, config.max_steps).unwrap();
        let mut losses = Vec::new();
        for _ in 0..applied + 10 {
            let m = trainer.step(vec![batch.clone()]).unwrap();
            if !m.loss_scale.as_ref().is_some_and(|s| s.skipped) {
                losses.push(m.loss);
            }
            if losses.len() == applied {
                break;
            }
        }
        losses
    };
    let f32_losses = run(Precision::F32, Device::flex().autodiff());
    let started = std::time::Instant::now();
    let f16_losses = run(Precision::F16, gpu.clone().autodiff());
    println!(
        "losses f32 (flex) {f32_losses:?}, f16 ({label}) {f16_losses:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(f16_losses.len(), applied, "the f16 loss scale settles");
    for (a, b) in f32_losses.iter().zip(&f16_losses) {
        assert!(((b - a) / a).abs() < 1e-2, "f16 loss {b} vs f32 {a}");
    }
    assert!(
        f16_losses[applied - 1] < f16_losses[0],
        "f16 training learns"
    );
}

/// A model with Flan-T5's head size (`d_kv` 64: the training kernels run, and query, key and
/// value come from one packed product, cross-attention's keys and values from another) takes
/// the same loss and gradients on the GPU as on the CPU (separate products, tensor-op
/// attention), for the encoder's, the decoder's and the cross-attention's projections and
/// the position table.
#[test]
fn packed_projections_train_as_on_the_cpu() {
    use burn::tensor::{DType, Device};
    use mixtune::kernels::packed_attention_runs;
    use mixtune::model::export::export_hf_dir;
    use mixtune::model::{T5Config, T5ForConditionalGeneration};

    let Ok(selected) = select(DeviceChoice::Gpu) else {
        println!("skipped: no wgpu device");
        return;
    };
    let gpu = selected.device.autodiff();
    let fixture = load_dir(&tiny_flan(), &Device::flex()).unwrap();
    let mut config: T5Config = fixture.model.config.clone();
    (config.d_kv, config.num_heads) = (64, 2);
    assert!(packed_attention_runs(&gpu, 2, 64, DType::F32));
    let dir = tempfile::tempdir().unwrap();
    let model = T5ForConditionalGeneration::new(&config, &Device::flex());
    export_hf_dir(&model, &fixture.tokenizer, &fixture.defaults, dir.path()).unwrap();
    let run = |device: &Device| -> Vec<(&'static str, Vec<f32>)> {
        let model = load_dir(dir.path(), device).unwrap().model;
        let (input_ids, attention_mask) = reference_inputs(device);
        let loss = model.loss(input_ids, attention_mask, &reference_labels());
        let grads = loss.backward();
        let encoder = &model.encoder.blocks[0].self_attention.self_attention;
        let decoder = &model.decoder.blocks[0].self_attention.self_attention;
        let cross = &model.decoder.blocks[0].cross_attention.enc_dec_attention;
        let grad = |t: Tensor<2>| -> Vec<f32> {
            let g = t.grad(&grads).expect("a gradient");
            g.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
        };
        let table = encoder.relative_attention_bias.as_ref().expect("a table");
        vec![
            (
                "loss",
                loss.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap(),
            ),
            ("encoder d_q", grad(encoder.q.weight.val())),
            ("encoder d_v", grad(encoder.v.weight.val())),
            ("encoder d_position", grad(table.val())),
            ("decoder d_k", grad(decoder.k.weight.val())),
            ("cross d_q", grad(cross.q.weight.val())),
            ("cross d_k", grad(cross.k.weight.val())),
            ("cross d_v", grad(cross.v.weight.val())),
            ("embedding", grad(model.shared.val())),
        ]
    };
    let got = run(&gpu);
    let expected = run(&Device::flex().autodiff());
    for ((what, got), (_, expected)) in got.into_iter().zip(expected) {
        let peak = expected.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(&expected)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{what}: max diff {diff:.2e} (peak {peak:.2e})");
        assert_eq!(got.len(), expected.len(), "{what}");
        assert!(diff <= 1e-3 * peak, "{what}: {diff} (peak {peak})");
    }
}

/// A machine with no Vulkan driver (here: the loader pointed at none) gets no GPU through
/// OpenGL, where wgpu's GL backend deadlocks on CubeCL's poll thread: `auto` takes the CPU
/// and `--device gpu` says what to install, in a process of its own (the loader reads its
/// variables once).
#[test]
fn without_a_vulkan_driver_the_gpu_is_refused_with_what_to_install() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .args(["devices", "--json"])
        .env("VK_DRIVER_FILES", "/nonexistent/mixtune-no-driver.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/mixtune-no-driver.json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(report["auto"], "CPU", "{report}");
    assert_eq!(report["gpu"], serde_json::Value::Null, "{report}");
    let why = report["gpu_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("OpenGL") && why.contains("mesa-vulkan-drivers"),
        "{report}"
    );
}
