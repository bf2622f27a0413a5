//! The WGSL attention kernels (`shaders/*.wgsl`, through `mixtune::kernels`) on a wgpu device
//! (a real GPU, or lavapipe in CI) against the plain-Burn reference on flex, for several
//! shapes: broadcast, padding and causal biases, lengths that are not multiples of the
//! workgroup or tile sizes, batch > 1, strided key/value views, head sizes other than 64.
//! Built only with `--features wgpu`; without a usable adapter each test prints why it skipped.
//!
//! Tolerance: `max |kernel - reference| <= 1e-4 · max(1, max |reference|)` per tensor (f32 on
//! GPU and CPU sum in different orders).
#![cfg(feature = "wgpu")]

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use mixtune::device::{select, DeviceChoice};
use mixtune::kernels::{attention, decode_attention, kernel_runs, reference_attention, Kernel};

const TOLERANCE: f32 = 1e-4;

/// Tests launch kernels concurrently, and CubeCL's launch observer sees every thread's: the
/// tests that count launches hold this exclusively, the others share it.
static LAUNCHES: RwLock<()> = RwLock::new(());

/// The wgpu device, held while a test runs (see [`LAUNCHES`]).
struct Gpu {
    device: Device,
    _shared: RwLockReadGuard<'static, ()>,
}

impl std::ops::Deref for Gpu {
    type Target = Device;
    fn deref(&self) -> &Device {
        &self.device
    }
}

fn gpu() -> Option<Gpu> {
    let shared = LAUNCHES.read().unwrap_or_else(|e| e.into_inner());
    wgpu_device().map(|device| Gpu {
        device,
        _shared: shared,
    })
}

/// The wgpu device, with no other test launching kernels meanwhile.
fn gpu_alone() -> Option<(Device, RwLockWriteGuard<'static, ()>)> {
    let alone = LAUNCHES.write().unwrap_or_else(|e| e.into_inner());
    wgpu_device().map(|device| (device, alone))
}

fn wgpu_device() -> Option<Device> {
    match select(DeviceChoice::Gpu) {
        Ok(selected) => {
            println!("device: {}", selected.label);
            Some(selected.device)
        }
        Err(reason) => {
            println!("skipped: no wgpu device: {reason}");
            None
        }
    }
}

/// Deterministic values in `[-scale, scale)`.
fn random(shape: [usize; 4], seed: u64, scale: f32) -> TensorData {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect();
    TensorData::new(values, shape)
}

fn host(tensor: Tensor<4>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn assert_close(what: &str, got: Vec<f32>, expected: Vec<f32>) {
    assert_close_within(what, got, expected, TOLERANCE);
}

/// `max |got - expected| <= tolerance · max(1, max |expected|)`.
fn assert_close_within(what: &str, got: Vec<f32>, expected: Vec<f32>, tolerance: f32) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let peak = expected.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(&expected)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    println!("{what}: max diff {diff:.2e} (peak {peak:.2e})");
    assert!(
        diff <= tolerance * peak,
        "{what}: kernel differs from reference by {diff} (peak {peak})"
    );
}

/// `[batch, 1, 1, k_len]`: 0 on the first `lengths[b]` keys, `f32::MIN` after.
fn padding_bias(lengths: &[usize], k_len: usize) -> TensorData {
    let values: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..k_len).map(move |j| if j < len { 0.0 } else { f32::MIN }))
        .collect();
    TensorData::new(values, [lengths.len(), 1, 1, k_len])
}

/// `[1, 1, q_len, k_len]`: `f32::MIN` on keys after query `i + offset`.
fn causal_bias(q_len: usize, k_len: usize, offset: usize) -> TensorData {
    let values: Vec<f32> = (0..q_len)
        .flat_map(|i| (0..k_len).map(move |j| if j <= i + offset { 0.0 } else { f32::MIN }))
        .collect();
    TensorData::new(values, [1, 1, q_len, k_len])
}

fn on(data: &TensorData, device: &Device) -> Tensor<4> {
    Tensor::from_data(data.clone(), device)
}

/// One attention problem, as host data.
struct Case {
    name: &'static str,
    query: TensorData,
    key: TensorData,
    value: TensorData,
    /// Summed into one bias on the device, in order (broadcasting).
    biases: Vec<TensorData>,
}

impl Case {
    fn new(name: &'static str, [b, h, m, n, d]: [usize; 5], seed: u64) -> Self {
        Self {
            name,
            query: random([b, h, m, d], seed, 1.0),
            key: random([b, h, n, d], seed + 1, 1.0),
            value: random([b, h, n, d], seed + 2, 1.0),
            biases: vec![random([1, h, m, n], seed + 3, 2.0)],
        }
    }

    fn with_bias(mut self, bias: TensorData) -> Self {
        self.biases.push(bias);
        self
    }

    fn bias(&self, device: &Device) -> Tensor<4> {
        let mut biases = self.biases.iter().map(|b| on(b, device));
        let first = biases.next().expect("a bias");
        biases.fold(first, |sum, b| sum + b)
    }

    fn inputs(&self, device: &Device) -> [Tensor<4>; 4] {
        [
            on(&self.query, device),
            on(&self.key, device),
            on(&self.value, device),
            self.bias(device),
        ]
    }
}

/// The training kernels run on every case with `d_kv` 64; 128 needs 48 KiB of workgroup
/// memory (lavapipe offers less, then the reference runs).
fn assert_kernel_runs(case: &Case, q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>, bias: &Tensor<4>) {
    let runs = kernel_runs(Kernel::Attention, q, k, v, bias);
    println!(
        "{}: {}",
        case.name,
        if runs { "kernel" } else { "reference" }
    );
    assert!(runs || q.dims()[3] != 64, "{}: kernel expected", case.name);
}

fn forward_cases() -> Vec<Case> {
    vec![
        Case::new("self, 37x37, position bias only", [2, 3, 37, 37, 64], 10),
        Case::new("self, padding + causal", [3, 2, 45, 45, 64], 20)
            .with_bias(padding_bias(&[45, 30, 1], 45))
            .with_bias(causal_bias(45, 45, 0)),
        Case::new(
            "cross, 130 queries x 70 keys, padding",
            [2, 2, 130, 70, 64],
            30,
        )
        .with_bias(padding_bias(&[70, 33], 70)),
        Case::new("d_kv 128, one key", [1, 2, 5, 1, 128], 40),
        Case::new("d_kv 128, 70x45, padding", [2, 2, 70, 45, 128], 45)
            .with_bias(padding_bias(&[45, 12], 45)),
        Case::new("200x257", [2, 1, 200, 257, 64], 50),
    ]
}

#[test]
fn attention_forward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    let cpu = Device::flex();
    for case in forward_cases() {
        let [q, k, v, bias] = case.inputs(&gpu);
        assert_kernel_runs(&case, &q, &k, &v, &bias);
        let start = Instant::now();
        let got = host(attention(q, k, v, bias, 0.0));
        println!("{}: kernel {:.2?}", case.name, start.elapsed());
        let [q, k, v, bias] = case.inputs(&cpu);
        assert_close(case.name, got, host(reference_attention(q, k, v, bias)));
    }
}

/// Head sizes the training kernels do not take (here 32) get the reference, on the GPU too.
#[test]
fn attention_with_other_head_sizes_takes_the_reference() {
    let Some(gpu) = gpu() else { return };
    let case = Case::new("d_kv 32", [2, 2, 9, 11, 32], 55);
    let [q, k, v, bias] = case.inputs(&gpu);
    assert!(!kernel_runs(Kernel::Attention, &q, &k, &v, &bias));
    let got = host(attention(q, k, v, bias, 0.0));
    let [q, k, v, bias] = case.inputs(&Device::flex());
    assert_close(case.name, got, host(reference_attention(q, k, v, bias)));
}

/// Loss `sum(attention(..) · weights)` and the gradients of query, key, value and each bias
/// part, on `device` (autodiff), through `attend`.
fn gradients(
    case: &Case,
    device: &Device,
    attend: impl Fn(Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Vec<(String, Vec<f32>)> {
    let leaf = |data: &TensorData| on(data, device).require_grad();
    let [q, k, v] = [&case.query, &case.key, &case.value].map(leaf);
    // The first bias part is trained (position bias); the rest are masks.
    let position = leaf(&case.biases[0]);
    let bias = case.biases[1..]
        .iter()
        .fold(position.clone(), |sum, b| sum + on(b, device));
    let out = attend(q.clone(), k.clone(), v.clone(), bias);
    let weights = on(&random(out.dims(), 99, 1.0), device);
    let grads = (out * weights).sum().backward();
    let grad = |name: &str, t: &Tensor<4>| {
        let g = t
            .grad(&grads)
            .unwrap_or_else(|| panic!("{name} has a gradient"));
        (name.to_string(), host(g))
    };
    vec![
        grad("d_query", &q),
        grad("d_key", &k),
        grad("d_value", &v),
        grad("d_position_bias", &position),
    ]
}

#[test]
fn attention_backward_matches_reference() {
    let Some(gpu) = gpu() else { return };
    let gpu = gpu.device.clone().autodiff();
    let cpu = Device::flex().autodiff();
    let mut cases = forward_cases();
    cases.push(
        Case::new(
            "batch-1 bias broadcast over batch 4",
            [4, 2, 33, 33, 64],
            60,
        )
        .with_bias(causal_bias(33, 33, 0)),
    );
    for case in cases {
        let [q, k, v, bias] = case.inputs(&gpu);
        assert_kernel_runs(&case, &q, &k, &v, &bias);
        let start = Instant::now();
        let got = gradients(&case, &gpu, |q, k, v, bias| attention(q, k, v, bias, 0.0));
        println!("{}: kernel fwd+bwd {:.2?}", case.name, start.elapsed());
        let expected = gradients(&case, &cpu, reference_attention);
        for ((name, got), (_, expected)) in got.into_iter().zip(expected) {
            assert_close(&format!("{}: {name}", case.name), got, expected);
        }
    }
}

/// Dropout on the probabilities inside the training kernels: the forward and both backward
/// kernels draw the masks of `AttentionDropout` (a hash of seed, slice, row and key; nothing
/// stored), so the output and every gradient equal the tensor ops' with those draws as
/// factors on the probabilities.
#[test]
fn attention_dropout_in_the_kernels_matches_the_drawn_masks() {
    use burn::tensor::activation::softmax;
    use mixtune::kernels::attention_dropout::{start_step, AttentionDropout};

    let Some(gpu) = gpu() else { return };
    let gpu = gpu.device.clone().autodiff();
    let cpu = Device::flex().autodiff();
    let dims = [2, 3, 45, 45];
    let case = Case::new(
        "self, padding + causal, dropout 0.25",
        [2, 3, 45, 45, 64],
        80,
    )
    .with_bias(padding_bias(&[45, 30], 45))
    .with_bias(causal_bias(45, 45, 0));
    // The draws of this thread's next call, then the same sequence again for the kernels.
    start_step(7, 3);
    let draws = AttentionDropout::next(0.25);
    let factors = draws.factors(dims, &cpu);
    let dropped = host(factors.clone()).iter().filter(|&&f| f == 0.0).count();
    assert!(dropped > 0, "nothing dropped");
    let masked = |q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>| {
        let probabilities = softmax(q.matmul(k.swap_dims(2, 3)) + bias, 3);
        (probabilities * factors.clone()).matmul(v)
    };
    start_step(7, 3);
    let [q, k, v, bias] = case.inputs(&gpu);
    assert_kernel_runs(&case, &q, &k, &v, &bias);
    let out = host(attention(q, k, v, bias, 0.25));
    let [q, k, v, bias] = case.inputs(&cpu);
    assert_close(
        &format!("{}: output", case.name),
        out,
        host(masked(q, k, v, bias)),
    );
    start_step(7, 3);
    let got = gradients(&case, &gpu, |q, k, v, bias| attention(q, k, v, bias, 0.25));
    let expected = gradients(&case, &cpu, masked);
    for ((name, got), (_, expected)) in got.into_iter().zip(expected) {
        assert_close(&format!("{}: {name}", case.name), got, expected);
    }
    println!(
        "{}: {dropped} of {} probabilities dropped",
        case.name,
        2 * 3 * 45 * 45
    );

    // The same draws on the cooperative-matrix kernels (f16), where the adapter has them
    // (Mesa 26.1's lavapipe; CI's Mesa 22 has none): against the reference on the same f16
    // values, P rounded to f16 after its factor as the kernel rounds it.
    use burn::tensor::DType;
    if mixtune::kernels::attention_coop_shape(&gpu, DType::F16, 64).is_none() {
        println!("no cooperative matrices: the f16 part skipped");
        return;
    }
    let half = |t: Tensor<4>| t.cast(DType::F16);
    let round = |t: Tensor<4>| t.cast(DType::F16).cast(DType::F32);
    start_step(7, 3);
    let got = gradients(&case, &gpu, |q, k, v, bias| {
        attention(half(q), half(k), half(v), bias, 0.25).cast(DType::F32)
    });
    let expected = gradients(&case, &cpu, |q, k, v, bias| {
        let probabilities = softmax(round(q).matmul(round(k).swap_dims(2, 3)) + bias, 3);
        round(round(probabilities * factors.clone()).matmul(round(v)))
    });
    for ((name, got), (_, expected)) in got.into_iter().zip(expected) {
        assert_close_within(
            &format!("coop f16 {}: {name}", case.name),
            got,
            expected,
            1e-2,
        );
    }
}

#[test]
fn decode_attention_matches_reference() {
    let Some(gpu) = gpu() else { return };
    let cpu = Device::flex();
    // Decoder self-attention at step `len - 1` of a cache of `capacity` slots: position bias
    // with the causal mask folded in (f32::MIN on slots not yet written, which hold zeros).
    let self_attention = |name, [b, h, capacity, d]: [usize; 4], len: usize, seed| {
        let mut case = Case::new(name, [b, h, 1, capacity, d], seed);
        let mut key = random([b, h, capacity, d], seed + 1, 1.0)
            .try_into_vec::<f32>()
            .unwrap();
        let mut value = random([b, h, capacity, d], seed + 2, 1.0)
            .try_into_vec::<f32>()
            .unwrap();
        for (i, (k, v)) in key.iter_mut().zip(value.iter_mut()).enumerate() {
            if (i / d) % capacity >= len {
                (*k, *v) = (0.0, 0.0);
            }
        }
        case.key = TensorData::new(key, [b, h, capacity, d]);
        case.value = TensorData::new(value, [b, h, capacity, d]);
        case.with_bias(causal_bias(1, capacity, len - 1))
    };
    let cases = vec![
        self_attention("self, capacity 1", [1, 2, 1, 64], 1, 120),
        self_attention("self, step 17 of 300", [3, 4, 300, 64], 17, 130),
        self_attention("self, step 999 of 1000", [2, 2, 1000, 64], 999, 140),
        self_attention("self, step 1500 of 2100", [1, 2, 2100, 64], 1500, 150),
        // Cross-attention: the encoder keys of every source position, padding per row.
        Case::new("cross, 77 source positions, padding", [3, 2, 1, 77, 64], 70)
            .with_bias(padding_bias(&[77, 40, 5], 77)),
        Case::new("two query rows, d_kv 32", [2, 2, 2, 129, 32], 80),
        Case::new("d_kv 256", [1, 2, 1, 513, 256], 90),
        Case::new("every key masked", [1, 1, 1, 20, 64], 100).with_bias(padding_bias(&[0], 20)),
    ];
    for case in cases {
        let [q, k, v, bias] = case.inputs(&gpu);
        assert!(
            kernel_runs(Kernel::Decode, &q, &k, &v, &bias),
            "{}",
            case.name
        );
        let start = Instant::now();
        let got = host(decode_attention(q, k, v, bias));
        println!("{}: kernel {:.2?}", case.name, start.elapsed());
        let [q, k, v, bias] = case.inputs(&cpu);
        assert_close(case.name, got, host(reference_attention(q, k, v, bias)));
    }
}

/// Keys and values as views: `[batch, capacity, heads, d]` caches read as
/// `[batch, heads, len, d]` (swapped dims, then a slice), with the bias unsummed.
#[test]
fn decode_attention_reads_strided_cache_views() {
    let Some(gpu) = gpu() else { return };
    let cpu = Device::flex();
    let [b, h, capacity, len, d] = [2, 3, 64, 40, 64];
    let query = random([b, h, 1, d], 1, 1.0);
    let key = random([b, capacity, h, d], 2, 1.0);
    let value = random([b, capacity, h, d], 3, 1.0);
    let position = random([1, h, 1, len], 4, 2.0);
    let run = |device: &Device, decode: bool| {
        let view = |data: &TensorData| on(data, device).swap_dims(1, 2).slice([0..b, 0..h, 0..len]);
        let (q, k, v) = (on(&query, device), view(&key), view(&value));
        let bias = on(&position, device);
        if decode {
            assert!(kernel_runs(Kernel::Decode, &q, &k, &v, &bias));
            host(decode_attention(q, k, v, bias))
        } else {
            host(reference_attention(q, k, v, bias))
        }
    };
    assert_close("strided cache", run(&gpu, true), run(&cpu, false));
}

/// Decoding inside an autodiff graph (e.g. a generation pass on the training device): the
/// untracked case runs the decode kernel, the tracked one records the training kernels.
#[test]
fn decode_attention_on_autodiff_device_matches_reference() {
    let Some(gpu) = gpu() else { return };
    let gpu = gpu.device.clone().autodiff();
    let cpu = Device::flex().autodiff();
    let case = Case::new("decode under autodiff", [2, 2, 1, 50, 64], 110)
        .with_bias(padding_bias(&[50, 20], 50));
    let [q, k, v, bias] = case.inputs(&gpu);
    let got = host(decode_attention(q, k, v, bias));
    let [q, k, v, bias] = case.inputs(&cpu);
    assert_close(case.name, got, host(reference_attention(q, k, v, bias)));
    let got = gradients(&case, &gpu, decode_attention);
    let expected = gradients(&case, &cpu, reference_attention);
    for ((name, got), (_, expected)) in got.into_iter().zip(expected) {
        assert_close(&format!("{}: {name}", case.name), got, expected);
    }
}

/// Mean time of one `step` over `iters` calls after warm-ups (autotune, shader compilation),
/// keeping every output alive until the device has finished them.
fn time_per_call<T>(device: &Device, iters: u32, mut step: impl FnMut() -> T) -> f64 {
    for _ in 0..10 {
        drop(step());
        device.sync().expect("device sync");
    }
    let start = Instant::now();
    let outputs: Vec<T> = (0..iters).map(|_| step()).collect();
    device.sync().expect("device sync");
    let seconds = start.elapsed().as_secs_f64() / f64::from(iters);
    drop(outputs);
    seconds * 1e6
}

/// Kernel against reference timings on one device (a report, not a check). Shapes follow
/// Flan-T5-base work: generation with 200-token prompts (batch 1 and 32), training batch 8
/// with 512 source / 128 target tokens, and the 32 × 512 upper bound.
/// `cargo test --features wgpu --test kernel_parity kernel_timings -- --ignored --nocapture`
/// (`MIXTUNE_BENCH_SMALL=1` for a quick run on a software adapter).
#[test]
#[ignore = "timing report; meant for a hardware GPU"]
fn kernel_timings() {
    let Some(gpu) = gpu() else { return };
    let small = std::env::var("MIXTUNE_BENCH_SMALL").is_ok();
    let iters = if small { 2 } else { 50 };
    let scale = |n: usize| if small { n.div_ceil(8) } else { n };
    let h = 12;

    let decode = [
        ("decode self b1 cap264", 1, 264, 232, false),
        ("decode self b32 cap264", 32, 264, 232, false),
        ("decode cross b32 src200", 32, 200, 200, true),
        ("decode self b8 cap2048", 8, 2048, 2000, false),
    ];
    for (name, b, capacity, len, cross) in decode {
        let (b, capacity, len) = (scale(b), scale(capacity), scale(len));
        let mut case = Case::new(name, [b, h, 1, capacity, 64], 7);
        case = if cross {
            let lengths: Vec<usize> = (0..b).map(|i| capacity - i % capacity).collect();
            case.with_bias(padding_bias(&lengths, capacity))
        } else {
            case.with_bias(causal_bias(1, capacity, len - 1))
        };
        let [q, k, v, bias] = case.inputs(&gpu);
        let kernel = time_per_call(&gpu, iters * 4, || {
            decode_attention(q.clone(), k.clone(), v.clone(), bias.clone())
        });
        let reference = time_per_call(&gpu, iters * 4, || {
            reference_attention(q.clone(), k.clone(), v.clone(), bias.clone())
        });
        println!("{name}: kernel {kernel:.1} µs, reference {reference:.1} µs");
    }

    let training = [
        ("train enc self b8 512x512", 8, 512, 512),
        ("train cross b8 128x512", 8, 128, 512),
        ("train dec self b8 128x128", 8, 128, 128),
        ("train self b32 512x512", 32, 512, 512),
    ];
    for (name, b, m, n) in training {
        let (b, m, n) = (scale(b), scale(m), scale(n));
        let case = Case::new(name, [b, h, m, n, 64], 8).with_bias(padding_bias(
            &(0..b).map(|i| n - i % n).collect::<Vec<_>>(),
            n,
        ));
        let [q, k, v, bias] = case.inputs(&gpu);
        let kernel = time_per_call(&gpu, iters, || {
            attention(q.clone(), k.clone(), v.clone(), bias.clone(), 0.0)
        });
        let reference = time_per_call(&gpu, iters, || {
            reference_attention(q.clone(), k.clone(), v.clone(), bias.clone())
        });
        println!("{name} forward: kernel {kernel:.1} µs, reference {reference:.1} µs");

        let autodiff = gpu.clone().autodiff();
        let backward = |attend: fn(Tensor<4>, Tensor<4>, Tensor<4>, Tensor<4>) -> Tensor<4>| {
            let leaf = |data: &TensorData| on(data, &autodiff).require_grad();
            let [q, k, v] = [&case.query, &case.key, &case.value].map(leaf);
            let position = leaf(&case.biases[0]);
            let mask = on(&case.biases[1], &autodiff);
            let weights = on(&random([b, h, m, 64], 9, 1.0), &autodiff);
            time_per_call(&autodiff, iters, || {
                let bias = position.clone() + mask.clone();
                let out = attend(q.clone(), k.clone(), v.clone(), bias);
                let grads = (out * weights.clone()).sum().backward();
                [&q, &k, &v, &position].map(|t| t.grad(&grads))
            })
        };
        let kernel = backward(|q, k, v, bias| attention(q, k, v, bias, 0.0));
        let reference = backward(reference_attention);
        println!("{name} forward+backward: kernel {kernel:.1} µs, reference {reference:.1} µs");
    }
}

/// Mixed precision: f16 query, key and value with an f32 bias (what the model sends under
/// `precision = "f16"`) run the kernels in f16, forward (one dispatch, no casts) and
/// backward. Against the f32 reference on the same f16-rounded values, within f16's precision
/// (1% of the peak: the output and the gradients are rounded to f16 once more).
#[test]
fn f16_attention_runs_the_kernels_in_f16() {
    use burn::tensor::DType;

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let case = Case::new("f16, self, padding", [2, 2, 45, 45, 64], 60)
        .with_bias(padding_bias(&[45, 30], 45));
    let [q, k, v, bias] = case.inputs(&gpu);
    let half = |t: Tensor<4>| t.cast(DType::F16);
    let (q, k, v) = (half(q), half(k), half(v));
    assert!(kernel_runs(Kernel::Attention, &q, &k, &v, &bias));
    // The output is a view (stored as the `[batch, len, heads · d]` it becomes): read after
    // counting, its copy to the host is not the kernel's.
    let (out, launches) = mixtune::device::profile::launches_by_kernel(&gpu, || {
        let out = attention(q, k, v, bias, 0.0);
        assert_eq!(out.dtype(), DType::F16, "f16 out");
        out
    });
    let out = host(out);
    let launches = launches.expect("a wgpu device counts launches");
    println!("f16 forward launches: {launches:?} ({} outputs)", out.len());
    assert_eq!(launches.values().sum::<usize>(), 1, "{launches:?}");
    assert_f16_attention_matches(&case, &gpu, 1e-2);
}

/// `case` through [`attention`] in f16 on `gpu` (query, key and value cast to f16, the output
/// back to f32) against the reference on the same f16 values computed in f32 (the output
/// rounded to f16) on flex: the output and the gradients of query, key, value and position
/// bias, within `tolerance` of each one's peak.
fn assert_f16_attention_matches(case: &Case, gpu: &Device, tolerance: f32) {
    use burn::tensor::DType;

    fn on_gpu(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>) -> Tensor<4> {
        let half = |t: Tensor<4>| t.cast(DType::F16);
        let out = attention(half(q), half(k), half(v), bias, 0.0);
        assert_eq!(out.dtype(), DType::F16);
        out.cast(DType::F32)
    }
    fn reference(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, bias: Tensor<4>) -> Tensor<4> {
        let round = |t: Tensor<4>| t.cast(DType::F16).cast(DType::F32);
        round(reference_attention(round(q), round(k), round(v), bias))
    }
    let got = gradients(case, &gpu.clone().autodiff(), on_gpu);
    let expected = gradients(case, &Device::flex().autodiff(), reference);
    let [q, k, v, bias] = case.inputs(gpu);
    let out = host(on_gpu(q, k, v, bias));
    let [q, k, v, bias] = case.inputs(&Device::flex());
    let pairs = [("output".to_string(), out)]
        .into_iter()
        .zip([host(reference(q, k, v, bias))])
        .chain(got.into_iter().zip(expected.into_iter().map(|(_, g)| g)));
    for ((name, got), expected) in pairs {
        assert_close_within(
            &format!("f16 {}: {name}", case.name),
            got,
            expected,
            tolerance,
        );
    }
}

/// f16 training attention on the adapter's cooperative matrices (`coop_attention_*.wgsl`):
/// output and the gradients of query, key, value and position bias against the reference on
/// the same f16 values (computed in f32, output rounded to f16), for blocks that overhang the
/// queries and keys, padding, causal masks, a bias broadcast over the batch and a single key;
/// one coop launch forward, two backward. Where the adapter has none (CI's Mesa 22), the
/// kernels must not be chosen.
#[test]
fn f16_attention_on_cooperative_matrices_matches_reference() {
    use burn::tensor::DType;
    use mixtune::kernels::attention_coop_shape;

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let gpu_ad = gpu.clone().autodiff();
    let Some(shape) = attention_coop_shape(&gpu_ad, DType::F16, 64) else {
        let capable = mixtune::kernels::device_coop_shape(&gpu_ad);
        assert!(
            capable.is_none(),
            "{capable:?}: the kernels fit this adapter, so their self-check failed"
        );
        println!("skipped: the adapter has no f16 cooperative matrices");
        return;
    };
    println!("cooperative matrices: {shape:?}");
    assert_eq!(attention_coop_shape(&gpu_ad, DType::F32, 64), None, "f32");
    assert_eq!(
        attention_coop_shape(&gpu_ad, DType::F16, 128),
        None,
        "d_kv 128"
    );
    let cases = [
        Case::new("coop, self 37x37", [2, 3, 37, 37, 64], 80),
        Case::new("coop, padding + causal 70x70", [3, 2, 70, 70, 64], 81)
            .with_bias(padding_bias(&[70, 41, 1], 70))
            .with_bias(causal_bias(70, 70, 0)),
        Case::new("coop, cross 130 queries x 97 keys", [2, 2, 130, 97, 64], 82)
            .with_bias(padding_bias(&[97, 20], 97)),
        Case::new("coop, one key", [1, 2, 5, 1, 64], 83),
    ];
    for case in cases {
        let [q, k, v, bias] = case.inputs(&gpu_ad);
        let half = |t: Tensor<4>| t.cast(DType::F16);
        let (q, k, v) = (half(q), half(k), half(v));
        let (out, forward) = mixtune::device::profile::launches_by_kernel(&gpu_ad, || {
            attention(q.clone(), k.clone(), v.clone(), bias.clone(), 0.0)
        });
        let forward = forward.expect("a wgpu device counts launches");
        assert_eq!(launched(&forward, &["CoopAttention"]), 1, "{forward:?}");
        let _ = host(out.cast(DType::F32));
        let (q, k, v) = (q.require_grad(), k.require_grad(), v.require_grad());
        let out = attention(q.clone(), k.clone(), v.clone(), bias, 0.0);
        let (_, backward) = mixtune::device::profile::launches_by_kernel(&gpu_ad, || {
            let grads = out.cast(DType::F32).sum().backward();
            read_together([q, k, v].map(|t| t.grad(&grads).expect("grad").reshape([-1])))
        });
        let backward = backward.expect("a wgpu device counts launches");
        // dq and dkv (the forward ran above, when `out` was recorded).
        assert_eq!(launched(&backward, &["CoopAttention"]), 2, "{backward:?}");
        assert_f16_attention_matches(&case, &gpu, 3e-3);
    }
}

/// An f16 model's decoding: f16 query and cache (a strided view, as the generation loop
/// keeps it) with the f32 bias take the decode kernel itself, in f16 in and out, and match the
/// reference on the same f16 values, computed in f32, within f16's rounding of the output.
#[test]
fn f16_decode_attention_runs_the_kernel_in_f16() {
    use burn::tensor::DType;

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let cpu = Device::flex();
    let [b, h, capacity, len, d] = [2, 3, 70, 53, 64];
    let query = random([b, h, 1, d], 11, 1.0);
    let key = random([b, capacity, h, d], 12, 1.0);
    let value = random([b, capacity, h, d], 13, 1.0);
    let position = random([1, h, 1, len], 14, 2.0);
    let padding = padding_bias(&[len, 20], len);
    let round = |t: Tensor<4>| t.cast(DType::F16);
    let view = |data: &TensorData, device: &Device| {
        round(on(data, device))
            .swap_dims(1, 2)
            .slice([0..b, 0..h, 0..len])
    };
    let bias = |device: &Device| on(&position, device) + on(&padding, device);

    let (q, k, v) = (
        round(on(&query, &gpu)),
        view(&key, &gpu),
        view(&value, &gpu),
    );
    let gpu_bias = bias(&gpu);
    assert!(kernel_runs(Kernel::Decode, &q, &k, &v, &gpu_bias));
    let launches = mixtune::device::profile::launches_by_kernel(&gpu, || {
        let out = decode_attention(q, k, v, gpu_bias);
        assert_eq!(out.dtype(), DType::F16, "f16 out");
        host(out)
    });
    let (got, kernels) = (
        launches.0,
        launches.1.expect("a wgpu device counts launches"),
    );
    println!("f16 decode launches: {kernels:?}");
    assert_eq!(
        kernels.values().sum::<usize>(),
        1,
        "one dispatch, no casts: {kernels:?}"
    );

    let wide = |t: Tensor<4>| t.cast(DType::F32);
    let (q, k, v) = (
        wide(round(on(&query, &cpu))),
        wide(view(&key, &cpu)),
        wide(view(&value, &cpu)),
    );
    let expected = host(reference_attention(q, k, v, bias(&cpu)));
    // The output is rounded to f16 once: half an ulp is 2^-11 of its magnitude.
    assert_close_within("f16 decode", got, expected, 1e-3);
}

/// The gradient norm's sum of squares (`shaders/sum_of_squares.wgsl`): 19 tensors of mixed
/// lengths (three dispatches, the last with two empty slots), one of them a transposed view,
/// one a column block of a wider matrix and one long enough for the most workgroups, against each tensor's `square().sum()` on
/// flex; and the launches once warm: one per seven tensors, plus the concatenation and the
/// final sum.
#[test]
fn sum_of_squares_matches_reference_in_a_few_launches() {
    use burn::tensor::DType;
    use mixtune::kernels::{reference_sum_of_squares, squares_kernel_runs, sum_of_squares};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let lengths = [
        1, 7, 64, 255, 256, 257, 512, 1000, 4096, 5000, 65_537, 3, 2, 384, 999, 1_200_000, 31,
    ];
    let datas: Vec<TensorData> = lengths
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let values = random([1, 1, 1, len], 300 + i as u64, 1.5)
                .try_into_vec::<f32>()
                .unwrap();
            TensorData::new(values, [len])
        })
        .collect();
    let transposed = random([1, 1, 48, 80], 400, 1.0);
    let wide = random([1, 1, 48, 192], 401, 1.0);
    let tensors = |device: &Device| -> Vec<Tensor<2>> {
        let mut tensors: Vec<Tensor<2>> = datas
            .iter()
            .map(|data| Tensor::<1>::from_data(data.clone(), device).unsqueeze())
            .collect();
        let view = on(&transposed, device).reshape([48, 80]).swap_dims(0, 1);
        tensors.insert(5, view);
        // A column block of a wider matrix, as a packed projection's weight gradient is.
        let block = on(&wide, device).reshape([48, 192]).slice([0..48, 64..128]);
        tensors.insert(9, block);
        // f16 gradients (of f16 working copies) among them, squared and summed in f32: 300²
        // overflows f16. A column block of an f16 matrix too.
        let half = |t: Tensor<2>| t.cast(DType::F16);
        tensors.insert(2, half(tensors[6].clone().mul_scalar(200.0)));
        tensors.insert(12, half(tensors[11].clone()));
        tensors.push(half(
            on(&wide, device)
                .reshape([48, 192])
                .slice([0..48, 128..192]),
        ));
        tensors
    };
    let on_gpu = tensors(&gpu);
    assert!(squares_kernel_runs(&on_gpu));
    // A first call compiles, and tunes the final sum (its tuning launches every candidate).
    host1(sum_of_squares(on_gpu.clone()));
    let (got, launches) =
        mixtune::device::profile::launches_by_kernel(&gpu, || host1(sum_of_squares(on_gpu)));
    let launches = launches.expect("a wgpu device counts launches");
    println!("sum of squares launches: {launches:?}");
    let squares = launched(&launches, &["SquaresKernel"]);
    // 19 f32 tensors in three dispatches, 3 f16 ones in one.
    assert_eq!(squares, 19usize.div_ceil(7) + 1, "{launches:?}");
    assert!(
        launches.values().sum::<usize>() <= squares + 6,
        "a few launches besides the dispatches: {launches:?}"
    );
    let expected = host1(reference_sum_of_squares(tensors(&Device::flex())));
    assert_close_within("sum of squares", got, expected, 1e-5);
}

/// Flan-T5's gated feed-forward as training runs it on a GPU, over one packed product
/// `x · [W_0 | W_1]` (`kernels::gated_gelu_packed`; its backward
/// `shaders/gated_gelu_backward.wgsl`), against the same layer on flex (two products, tensor
/// ops): the output and the gradients of `x` and of the three weights, in f32 (within 1e-4)
/// and f16 (within 1e-2); and its backward pass in 4 GEMMs and one activation kernel, where
/// two products take 6 GEMMs and an addition.
#[test]
fn packed_gated_feed_forward_matches_reference() {
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::tensor::DType;
    use mixtune::kernels::gated_gelu_packed_runs;
    use mixtune::model::config::Activation;
    use mixtune::model::layers::DenseGatedActDense;

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let _direct = DirectCoopProducts::new();
    let coop = mixtune::kernels::device_coop_shape(&gpu);
    // 33 rows: not whole tiles, Burn's matmul. 128 rows (f16): the packed product `x · [W_0 |
    // W_1]` and `wo` on cooperative matrices where the adapter has them (f16 training).
    for (dtype, s) in [(DType::F32, 33), (DType::F16, 33), (DType::F16, 64)] {
        let [b, d, ff] = [2, 64, 96];
        let x = random([1, b, s, d], 610, 2.0);
        let w0 = random([1, 1, d, ff], 611, 0.5);
        let w1 = random([1, 1, d, ff], 612, 0.5);
        let wo = random([1, 1, ff, d], 613, 0.5);
        let upstream = random([1, b, s, d], 614, 1.0);
        let on_coop = coop.is_some() && s == 64;
        let run = |device: &Device| {
            let linear = |data: &TensorData, dims: [usize; 2]| Linear {
                weight: Param::from_tensor(on(data, device).reshape(dims)),
                bias: None,
            };
            let layer = DenseGatedActDense {
                wi_0: linear(&w0, [d, ff]),
                wi_1: linear(&w1, [d, ff]),
                wo: linear(&wo, [ff, d]),
                activation: Activation::GeluNew,
                lora_dropout: 0.0,
                dropout: 0.0,
            };
            let x = on(&x, device).reshape([b, s, d]).require_grad();
            let out = layer.forward(x.clone().cast(dtype));
            assert_eq!(out.dtype(), dtype);
            let out = out.cast(DType::F32);
            let loss = (out.clone() * on(&upstream, device).reshape([b, s, d])).sum();
            let out = read_together([out.reshape([b * s * d])]).remove(0);
            let (grads, launches) = mixtune::device::profile::launches_by_kernel(device, || {
                let grads = loss.backward();
                let mut all = vec![x.grad(&grads).expect("d_x").reshape([b * s * d])];
                for linear in [&layer.wi_0, &layer.wi_1, &layer.wo] {
                    let grad = linear.weight.grad(&grads).expect("d_w");
                    all.push(grad.reshape([d * ff]));
                }
                read_together(all)
            });
            (out, grads, launches.unwrap_or_default())
        };
        let gpu_ad = gpu.clone().autodiff();
        assert!(gated_gelu_packed_runs(&gpu_ad, dtype, [b, s, 2 * ff]));
        let (out, grads, _) = run(&gpu_ad);
        if dtype == DType::F32 || on_coop {
            // Counted once compiled and tuned.
            let (_, _, launches) = run(&gpu_ad);
            let count = |needle: &str| launched(&launches, &[needle]);
            println!("packed feed-forward backward launches: {launches:?}");
            assert_eq!(count("GatedGeluKernel"), 1, "{launches:?}");
            assert_eq!(count("Matmul"), 4, "{launches:?}");
            // The packed product's and `wo`'s two backward products each on the cooperative
            // matrices.
            let expected_coop = if on_coop { 4 } else { 0 };
            assert_eq!(count("CoopMatmul"), expected_coop, "{launches:?}");
        }
        let (expected_out, expected, _) = run(&Device::flex().autodiff());
        let tolerance = if dtype == DType::F32 { 1e-4 } else { 1e-2 };
        let name = format!("{dtype:?} packed feed-forward, {s} positions");
        assert_close_within(&format!("{name} output"), out, expected_out, tolerance);
        for (what, (got, expected)) in ["d_x", "d_wi_0", "d_wi_1", "d_wo"]
            .iter()
            .zip(grads.into_iter().zip(expected))
        {
            assert_close_within(&format!("{name} {what}"), got, expected, tolerance);
        }
    }
}

/// T5's dropout outside attention (`kernels::dropout`, `kernels::dropout_add`): each
/// element's factor is `AttentionDropout::element_factor` of its index, in the output and in
/// the gradients, which the backward pass gets by drawing again (nothing stored): one launch
/// for each op's forward and for each `x` gradient. f32 and f16, over a length that is not a
/// whole number of workgroups.
#[test]
fn element_dropout_matches_the_drawn_factors() {
    use burn::tensor::DType;
    use mixtune::kernels::{dropout, dropout_add, dropout_runs, AttentionDropout};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let device = gpu.autodiff();
    let (shape, n) = ([2, 37, 50], 2 * 37 * 50);
    let draw = AttentionDropout::with_seed(0.25, 77);
    let factors: Vec<f32> = (0..n).map(|i| draw.element_factor(i as u32)).collect();
    let dropped = factors.iter().filter(|&&f| f == 0.0).count() as f64 / n as f64;
    assert!((dropped - 0.25).abs() < 0.03, "{dropped} of {n} dropped");
    let [x, residual, upstream] = [901, 902, 903].map(|seed| random([1, 2, 37, 50], seed, 2.0));
    let values = |data: &TensorData| data.clone().try_to_vec::<f32>().unwrap();
    let (xs, rs, us) = (values(&x), values(&residual), values(&upstream));
    // summed = residual + x · f, alone = x · f; loss = Σ u · summed + 2 Σ u · alone.
    let summed: Vec<f32> = (0..n).map(|i| rs[i] + xs[i] * factors[i]).collect();
    let alone: Vec<f32> = (0..n).map(|i| xs[i] * factors[i]).collect();
    let d_x: Vec<f32> = (0..n).map(|i| 3.0 * us[i] * factors[i]).collect();
    for dtype in [DType::F32, DType::F16] {
        assert!(dropout_runs(&device, dtype, n));
        let x = on(&x, &device).reshape(shape).require_grad();
        let residual = on(&residual, &device).reshape(shape).require_grad();
        let upstream = on(&upstream, &device).reshape(shape);
        let (out_sum, out_alone, launches) = {
            let (outputs, launches) = mixtune::device::profile::launches_by_kernel(&device, || {
                let sum = dropout_add(residual.clone().cast(dtype), x.clone().cast(dtype), draw);
                let alone = dropout(x.clone().cast(dtype), draw);
                read_together([sum, alone].map(|t| t.cast(DType::F32).reshape([n])))
            });
            let [sum, alone] = <[Vec<f32>; 2]>::try_from(outputs).unwrap();
            (sum, alone, launches.unwrap_or_default())
        };
        let loss = || {
            let sum = dropout_add(residual.clone().cast(dtype), x.clone().cast(dtype), draw);
            let alone = dropout(x.clone().cast(dtype), draw);
            let weighted = |t: Tensor<3>| (t.cast(DType::F32) * upstream.clone()).sum();
            weighted(sum) + weighted(alone).mul_scalar(2.0)
        };
        let (grads, backward) = {
            let loss = loss();
            mixtune::device::profile::launches_by_kernel(&device, || {
                let grads = loss.backward();
                let grad = |t: &Tensor<3>| t.grad(&grads).expect("a gradient").reshape([n]);
                read_together([grad(&x), grad(&residual)])
            })
        };
        let backward = backward.unwrap_or_default();
        let tolerance = if dtype == DType::F32 { 1e-6 } else { 1e-2 };
        let name = format!("{dtype:?} dropout");
        assert_close_within(
            &format!("{name} + residual"),
            out_sum,
            summed.clone(),
            tolerance,
        );
        assert_close_within(
            &format!("{name} alone"),
            out_alone,
            alone.clone(),
            tolerance,
        );
        assert_close_within(
            &format!("{name} d_x"),
            grads[0].clone(),
            d_x.clone(),
            tolerance,
        );
        assert_close_within(
            &format!("{name} d_residual"),
            grads[1].clone(),
            us.clone(),
            tolerance,
        );
        println!("{name}: forward {launches:?}, backward {backward:?}");
        assert_eq!(launched(&launches, &["DropoutKernel"]), 2, "{launches:?}");
        assert_eq!(launched(&backward, &["DropoutKernel"]), 2, "{backward:?}");
    }
}

/// LoRA's dropout on its adapters' inputs (PEFT's `dropout(x)·A·B`) takes the element-wise
/// dropout kernel on a GPU, as T5's own sites do: one launch per adapted projection in the
/// forward pass, no Burn Bernoulli mask drawn (and kept for the backward pass).
#[test]
fn lora_dropout_takes_the_dropout_kernel() {
    use burn::tensor::Int;
    use mixtune::model::{T5Config, T5ForConditionalGeneration};
    use mixtune::train::config::LoraSettings;
    use mixtune::train::lora;

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let device = gpu.autodiff();
    let mut config = T5Config::flan_t5_small();
    (config.d_model, config.d_kv, config.d_ff, config.num_heads) = (32, 8, 64, 4);
    (config.num_layers, config.num_decoder_layers) = (2, Some(2));
    let model = T5ForConditionalGeneration::random(&config, &device);
    let settings = LoraSettings {
        dropout: 0.1,
        target_modules: vec!["q".into(), "v".into()],
        ..LoraSettings::default()
    };
    let model = lora::apply(model, &settings).unwrap();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![5i64; 2 * 9], [2, 9]), &device);
    let mask = Tensor::<2>::ones([2, 9], &device);
    let (_, launches) = mixtune::device::profile::launches_by_kernel(&device, || {
        read_together([model.encode(ids, mask).reshape([2 * 9 * 32])])
    });
    let launches = launches.unwrap_or_default();
    println!("encoder with LoRA dropout: {launches:?}");
    // q and v in each of the 2 encoder blocks.
    assert_eq!(launched(&launches, &["DropoutKernel"]), 4, "{launches:?}");
    assert_eq!(launched(&launches, &["Bernoulli"]), 0, "{launches:?}");
}

/// An f16 training step runs its element-wise ops fused: few launch alone. With Burn's
/// default fusion search (5 blocks) this model's optimizer updates and feed-forward layers
/// each fell back to a kernel per op, every step (482 lone launches a step on lavapipe; 16
/// at one block: `device::gpu::configure_fusion`). Where `wo` runs on the cooperative
/// matrices, it adds none (its weight's cast, recorded between the activation and the
/// product, made a search of several blocks give a layer's segment up: 573 against 482).
/// Where the adapter has no cooperative matrices (CI's Mesa 22) the step stayed fused at 5
/// blocks too (22 lone launches), so it is skipped there (80 s of compiling).
#[test]
fn f16_training_step_stays_fused() {
    use burn::tensor::Int;
    use mixtune::kernels::{coop_product_shape, device_coop_shape, set_coop_wo_enabled};
    use mixtune::model::{Precision, T5Config, T5ForConditionalGeneration};
    use mixtune::train::{TrainBatch, TrainConfig, Trainer};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    if device_coop_shape(&gpu).is_none() {
        println!("skipped: the adapter has no cooperative matrices");
        return;
    }
    let _direct = DirectCoopProducts::new();
    // 64 rows a side (two 32-row blocks at lavapipe's 8 × 8 tiles): `wo` goes on them there.
    let [d_model, d_ff] = [64, 128];
    let config: T5Config = serde_json::from_value(serde_json::json!({
        "vocab_size": 128, "d_model": d_model, "d_kv": 64, "d_ff": d_ff, "num_layers": 2,
        "num_heads": 2, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": false
    }))
    .expect("a T5 config");
    let [batch, len] = [2, 32];
    let ids: Vec<i64> = (0..batch * len)
        .map(|i| 2 + (i * 37 % 120) as i64)
        .collect();
    let labels: Vec<Vec<i64>> = ids
        .chunks(len)
        .map(|row| row.iter().rev().copied().collect())
        .collect();
    let ad = gpu.clone().autodiff();
    let train_batch = TrainBatch {
        input_ids: Tensor::<1, Int>::from_ints(ids.as_slice(), &ad).reshape([batch, len]),
        attention_mask: Tensor::ones([batch, len], &ad),
        labels,
        tasks: vec!["summary".into(); batch],
        source_tokens: batch * len,
        target_tokens: batch * len,
    };
    let mut train_config = TrainConfig::new("tiny", "mix.toml", 20);
    train_config.precision = Precision::F16;
    // The launches of an applied f16 step once compiled (the first two steps), and how many
    // of them are element-wise ops alone.
    let step_launches = |wo_on_coop: bool| -> (usize, std::collections::BTreeMap<&str, usize>) {
        set_coop_wo_enabled(wo_on_coop);
        let model = T5ForConditionalGeneration::random(&config, &ad);
        let mut trainer = Trainer::new(model, &train_config, 20).expect("a trainer");
        let mut step = || {
            trainer
                .step(vec![train_batch.clone()])
                .expect("an f16 step")
        };
        step();
        step();
        for _ in 0..8 {
            let (metrics, launches) = mixtune::device::profile::launches_by_kernel(&gpu, &mut step);
            if !metrics.loss_scale.as_ref().is_some_and(|s| s.skipped) {
                let launches = launches.unwrap_or_default();
                return (
                    launched(&launches, &["Binop", "UnaryFloat", "Clamp"]),
                    launches,
                );
            }
        }
        panic!("no applied f16 step in 8");
    };
    let (lone, launches) = step_launches(true);
    println!("f16 step: {lone} lone element-wise launches: {launches:#?}");
    assert!(
        lone <= 48,
        "{lone} lone element-wise launches: {launches:?}"
    );
    // With NVIDIA's 16 × 16 tiles a block is 64 rows: this model's products stay Burn's.
    if coop_product_shape(&ad, [batch * len, d_ff, d_model]).is_none() {
        println!("`wo` is not on the cooperative matrices at these sizes");
        return;
    }
    let (lone_f32_wo, f32_wo_launches) = step_launches(false);
    set_coop_wo_enabled(true);
    println!("with `wo` f32: {lone_f32_wo} lone element-wise launches");
    let coop = |launches| launched(launches, &["CoopMatmul"]);
    assert!(
        coop(&launches) > coop(&f32_wo_launches),
        "`wo` on the cooperative matrices: {launches:?}"
    );
    assert!(
        lone <= lone_f32_wo + 4,
        "`wo` on the cooperative matrices: {lone} lone element-wise launches against \
         {lone_f32_wo}: {launches:?}"
    );
}

/// f16 products on the direct cooperative-matrix kernel wherever it fits, unmeasured (for
/// tests that count its launches: measured, lavapipe's emulated tiles may lose to Burn's),
/// until dropped; then measured again, the default.
struct DirectCoopProducts;

impl DirectCoopProducts {
    fn new() -> Self {
        mixtune::kernels::set_coop_staged(mixtune::kernels::Pick::Never);
        DirectCoopProducts
    }
}

impl Drop for DirectCoopProducts {
    fn drop(&mut self) {
        mixtune::kernels::set_coop_staged(mixtune::kernels::Pick::Measured);
    }
}

/// Products measured on software adapters too (lavapipe: see
/// `product_choice::set_measure_on_software`) until dropped; then not, the default.
struct MeasuredOnSoftware;

impl MeasuredOnSoftware {
    fn new() -> Self {
        mixtune::kernels::product_choice::set_measure_on_software(true);
        MeasuredOnSoftware
    }
}

impl Drop for MeasuredOnSoftware {
    fn drop(&mut self) {
        mixtune::kernels::product_choice::set_measure_on_software(false);
    }
}

/// Launches of the kernels whose names contain any of `needles`.
fn launched(launches: &std::collections::BTreeMap<&str, usize>, needles: &[&str]) -> usize {
    launches
        .iter()
        .filter(|(kernel, _)| needles.iter().any(|needle| kernel.contains(needle)))
        .map(|(_, n)| n)
        .sum()
}

/// `tensors` read to the host in one transaction (no launches of their own, so a launch count
/// taken around it sees only the work before it).
fn read_together(tensors: impl IntoIterator<Item = Tensor<1>>) -> Vec<Vec<f32>> {
    let mut reads = burn::tensor::Transaction::default();
    for tensor in tensors {
        reads = reads.register(tensor);
    }
    reads
        .execute()
        .into_iter()
        .map(|t| t.convert::<f32>().try_into_vec::<f32>().unwrap())
        .collect()
}

fn host1(tensor: Option<Tensor<1>>) -> Vec<f32> {
    tensor
        .expect("some tensors")
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap()
}

/// T5's layer norm (`shaders/t5_rms_norm_*.wgsl`) against the tensor-op reference on flex:
/// the output, and under autodiff the input's and the weight's gradients; in f32, and in
/// f16 with the f32 master weight (mixed precision) within f16's precision. Rows past one
/// workgroup's width, and a width that is not a multiple of it. Forward: one dispatch.
#[test]
fn rms_norm_matches_reference_forward_and_backward() {
    use burn::tensor::DType;
    use mixtune::kernels::norm_kernel_runs;
    use mixtune::model::layers::{reference_rms_norm, rms_norm};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let [b, s, d] = [3, 37, 300];
    let x = random([1, b, s, d], 500, 2.0);
    let upstream = random([1, b, s, d], 501, 1.0);
    let weight = random([1, 1, 1, d], 502, 1.5);
    let eps = 1e-6;
    for dtype in [DType::F32, DType::F16] {
        let run = |device: &Device, norm: fn(Tensor<3>, Tensor<1>, f64) -> Tensor<3>| {
            let x = on(&x, device).reshape([b, s, d]).require_grad();
            let weight = on(&weight, device).reshape([d]).require_grad();
            let out = norm(x.clone().cast(dtype), weight.clone(), eps);
            assert_eq!(out.dtype(), dtype);
            let loss =
                (out.clone().cast(DType::F32) * on(&upstream, device).reshape([b, s, d])).sum();
            let grads = loss.backward();
            let d_x = x.grad(&grads).expect("d_x").reshape([1, b, s, d]);
            let d_weight = weight.grad(&grads).expect("d_weight").reshape([1, 1, 1, d]);
            (
                host(out.cast(DType::F32).reshape([1, b, s, d])),
                host(d_x),
                host(d_weight),
            )
        };
        let gpu_ad = gpu.clone().autodiff();
        let probe = on(&x, &gpu).reshape([b, s, d]).cast(dtype);
        assert!(norm_kernel_runs(&probe, &on(&weight, &gpu).reshape([d])));
        let (_, forward) = mixtune::device::profile::launches_by_kernel(&gpu, || {
            host(
                rms_norm(probe, on(&weight, &gpu).reshape([d]), eps)
                    .cast(DType::F32)
                    .reshape([1, b, s, d]),
            )
        });
        let norm_launches = launched(
            &forward.expect("a wgpu device counts launches"),
            &["RmsNormKernel"],
        );
        assert_eq!(norm_launches, 1, "one dispatch forward");
        let got = run(&gpu_ad, rms_norm);
        let expected = run(&Device::flex().autodiff(), reference_rms_norm);
        let tolerance = if dtype == DType::F32 { 1e-4 } else { 1e-2 };
        let name = format!("{dtype:?} rms norm");
        assert_close_within(&format!("{name} output"), got.0, expected.0, tolerance);
        assert_close_within(&format!("{name} d_x"), got.1, expected.1, tolerance);
        assert_close_within(&format!("{name} d_weight"), got.2, expected.2, tolerance);
    }
}

/// Flan-T5's gated activation `gelu_new(gate) · up` in training on the GPU (one op whose
/// backward Burn fuses into one kernel) against autodiff through the tensor ops on flex: the
/// output and both gradients, in f32 and in f16 (the gradients computed in f32 there,
/// within f16's precision). Beside other matmuls, as in the model, its backward takes fewer
/// launches than the tensor ops' on the same GPU: autodiff interleaves their backward steps
/// with the matmuls' and leaves them unfused.
#[test]
fn gated_gelu_matches_reference_with_a_fused_backward() {
    use burn::tensor::DType;
    use mixtune::kernels::gated_gelu_runs;
    use mixtune::model::layers::{gated_gelu_new, reference_gated_gelu_new};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let [b, s, d, ff] = [2, 33, 64, 96];
    let x = random([1, b, s, d], 600, 2.0);
    let w0 = random([1, 1, d, ff], 601, 0.5);
    let w1 = random([1, 1, d, ff], 602, 0.5);
    let wo = random([1, 1, ff, d], 603, 0.5);
    let upstream = random([1, b, s, d], 604, 1.0);
    let side = random([1, 1, d, d], 605, 0.2);
    type Gated = fn(Tensor<3>, Tensor<3>) -> Tensor<3>;
    for dtype in [DType::F32, DType::F16] {
        // `wo(gated(x·w0, x·w1))`: the activation and the gradients of x and of the three
        // weights (through the activation's two), and the backward pass's launches.
        let run = |device: &Device, gated: Gated| {
            let leaf =
                |data: &TensorData, dims: [usize; 3]| on(data, device).reshape(dims).require_grad();
            let x = leaf(&x, [b, s, d]);
            let weights = [
                leaf(&w0, [1, d, ff]),
                leaf(&w1, [1, d, ff]),
                leaf(&wo, [1, ff, d]),
            ];
            let cast = |t: &Tensor<3>| t.clone().cast(dtype);
            let input = cast(&x);
            let inner = gated(
                input.clone().matmul(cast(&weights[0])),
                input.clone().matmul(cast(&weights[1])),
            );
            assert_eq!(inner.dtype(), dtype);
            // A branch of matmuls beside it, as the model's other paths are: autodiff runs
            // the backward steps of equal depth together, so these interleave with the
            // activation's steps when it is made of many.
            let side = on(&side, device).reshape([1, d, d]).cast(dtype);
            let mut beside = input;
            for _ in 0..12 {
                beside = beside.matmul(side.clone());
            }
            let out = (inner.clone().matmul(cast(&weights[2])) + beside).cast(DType::F32);
            let loss = (out * on(&upstream, device).reshape([b, s, d])).sum();
            let inner = inner
                .cast(DType::F32)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap();
            let (grads, launches) = mixtune::device::profile::launches_by_kernel(device, || {
                let grads = loss.backward();
                let mut all = vec![x.grad(&grads).expect("d_x").reshape([b * s * d])];
                for w in &weights {
                    let grad = w.grad(&grads).expect("d_w");
                    all.push(grad.reshape([d * ff]));
                }
                read_together(all)
            });
            (
                inner,
                grads,
                launches.map_or(0, |l| l.values().sum::<usize>()),
            )
        };
        let gpu_ad = gpu.clone().autodiff();
        let probe = on(&x, &gpu_ad)
            .reshape([b, s, d])
            .require_grad()
            .cast(dtype);
        assert!(gated_gelu_runs(&probe, &probe));
        let (inner, grads, _) = run(&gpu_ad, gated_gelu_new);
        if dtype == DType::F32 {
            // Counted once compiled (and tuned); f16 launches as f32 (casts fuse), so its
            // count is left out to keep the test short on lavapipe.
            run(&gpu_ad, reference_gated_gelu_new);
            let (_, _, fused) = run(&gpu_ad, gated_gelu_new);
            let (_, _, unfused) = run(&gpu_ad, reference_gated_gelu_new);
            println!("feed-forward backward launches: {fused} fused, {unfused} tensor ops");
            assert!(fused < unfused, "{fused} vs {unfused}");
        }
        let (expected_inner, expected, _) =
            run(&Device::flex().autodiff(), reference_gated_gelu_new);
        let tolerance = if dtype == DType::F32 { 1e-4 } else { 1e-2 };
        let name = format!("{dtype:?} gated gelu");
        assert_close_within(&format!("{name} output"), inner, expected_inner, tolerance);
        for (what, (got, expected)) in ["d_x", "d_w0", "d_w1", "d_wo"]
            .iter()
            .zip(grads.into_iter().zip(expected))
        {
            assert_close_within(&format!("{name} {what}"), got, expected, tolerance);
        }
    }
}

/// The f16 clamp after each sub-layer in f16 training on the GPU (one op, its backward one
/// fused kernel) against autodiff through the tensor ops on flex: overflowed elements (inf,
/// and exactly f16's max) become ±(max − 1000) with a zero gradient, every other element
/// and its gradient pass unchanged, exactly.
#[test]
fn f16_clamp_matches_reference_forward_and_backward() {
    use burn::tensor::DType;
    use mixtune::kernels::clamp_f16_runs;
    use mixtune::model::precision::clamp_f16;

    let Some(gpu) = gpu() else {
        return;
    };
    let values = [1.5f32, -2.0, 65504.0, -65504.0, 70000.0, -1e9, 65000.0, 0.0];
    let upstream = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.0];
    let run = |device: &Device| {
        let x = Tensor::<1>::from_floats(values, device).require_grad();
        let out = clamp_f16(x.clone().cast(DType::F16));
        assert_eq!(out.dtype(), DType::F16);
        let loss = (out.clone().cast(DType::F32) * Tensor::from_floats(upstream, device)).sum();
        let grad = x.grad(&loss.backward()).expect("d_x");
        let read = |t: Tensor<1>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        };
        (read(out.cast(DType::F32)), read(grad))
    };
    let gpu_ad = gpu.clone().autodiff();
    let probe = Tensor::<1>::from_floats(values, &gpu_ad).cast(DType::F16);
    assert!(clamp_f16_runs(&probe));
    let (out, grad) = run(&gpu_ad);
    let (expected_out, expected_grad) = run(&Device::flex().autodiff());
    println!("f16 clamp: {out:?}, gradient {grad:?}");
    assert_eq!(out, expected_out);
    assert_eq!(grad, expected_grad);
    // max − 1000 = 64504, 64512 in f16.
    assert_eq!(out[2], 64512.0, "f16's max is an overflow");
    assert_eq!(grad[4], 0.0, "no gradient through a replaced element");
}

/// Attention from packed projections (`kernels::self_attention`: query, key and value side by
/// side in one `[batch, len, 3 · heads · d]` product; `kernels::cross_attention`: keys and
/// values side by side) on the GPU, where the kernels read the blocks in place and write one
/// packed gradient, against the same math through separate tensors on flex: the output and
/// the gradients of the input, of the packed weight and of the position bias. In f32 the
/// backward pass also launches fewer kernels than three separate projections do.
#[test]
fn packed_attention_matches_reference() {
    use burn::tensor::module::linear;
    use burn::tensor::DType;
    use mixtune::kernels::{cross_attention, packed_attention_runs, self_attention};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let [b, s, n, dm, heads, d] = [2, 45, 33, 64, 2, 64];
    let inner = heads * d;
    let x = random([1, b, s, dm], 700, 1.0);
    let y = random([1, b, n, dm], 701, 1.0);
    let weight = random([1, 1, dm, 3 * inner], 702, 0.3);
    let position = random([1, heads, s, s], 703, 1.0);
    let upstream = random([b, heads, s, d], 704, 1.0);
    let padding = padding_bias(&[45, 30], s);
    /// Output and gradients (read in one transaction), and the backward pass's launches.
    type Run = (Vec<f32>, Vec<Vec<f32>>, usize);
    // Self-attention over `x` (`packed`: one product, else three), position bias + padding.
    let self_run = |device: &Device, dtype: DType, packed: bool| -> Run {
        let x = on(&x, device).reshape([b, s, dm]).require_grad();
        let w = on(&weight, device).reshape([dm, 3 * inner]).require_grad();
        let position = on(&position, device).require_grad();
        let bias = position.clone() + on(&padding, device);
        let input = x.clone().cast(dtype);
        let out = if packed {
            self_attention(linear(input, w.clone().cast(dtype), None), bias, heads, 0.0)
        } else {
            let project = |block: usize| {
                let wb = w.clone().slice([0..dm, block * inner..(block + 1) * inner]);
                let p = linear(input.clone(), wb.cast(dtype), None);
                p.reshape([b, s, heads, d]).swap_dims(1, 2)
            };
            attention(project(0), project(1), project(2), bias, 0.0)
        };
        let out = out.cast(DType::F32);
        let loss = (out.clone() * on(&upstream, device)).sum();
        let out = host(out);
        let (grads, launches) = mixtune::device::profile::launches_by_kernel(device, || {
            let grads = loss.backward();
            let all: [Tensor<1>; 3] = [
                x.grad(&grads).expect("d_x").reshape([b * s * dm]),
                w.grad(&grads).expect("d_w").reshape([dm * 3 * inner]),
                position
                    .grad(&grads)
                    .expect("d_position")
                    .reshape([heads * s * s]),
            ];
            read_together(all)
        });
        (out, grads, launches.map_or(0, |l| l.values().sum()))
    };
    let gpu_ad = gpu.clone().autodiff();
    let cpu_ad = Device::flex().autodiff();
    for dtype in [DType::F32, DType::F16] {
        assert!(packed_attention_runs(&gpu_ad, heads, d, dtype), "{dtype:?}");
        assert!(!packed_attention_runs(&gpu, heads, d, dtype), "inference");
        let (out, grads, _) = self_run(&gpu_ad, dtype, true);
        let (expected_out, expected, _) = self_run(&cpu_ad, dtype, false);
        let tolerance = if dtype == DType::F32 { 1e-4 } else { 1e-2 };
        let name = format!("{dtype:?} packed self-attention");
        assert_close_within(&format!("{name} output"), out, expected_out, tolerance);
        for (what, (got, expected)) in ["d_x", "d_w", "d_position"]
            .iter()
            .zip(grads.into_iter().zip(expected))
        {
            assert_close_within(&format!("{name} {what}"), got, expected, tolerance);
        }
    }
    // Counted once compiled and tuned.
    self_run(&gpu_ad, DType::F32, false);
    let (_, _, packed) = self_run(&gpu_ad, DType::F32, true);
    let (_, _, separate) = self_run(&gpu_ad, DType::F32, false);
    println!("self-attention backward launches: {packed} packed, {separate} separate");
    assert!(packed < separate, "{packed} vs {separate}");

    // Cross-attention: queries from `y` over keys and values of `x`, padding bias.
    let cross_run = |device: &Device| -> Vec<Vec<f32>> {
        let x = on(&x, device).reshape([b, s, dm]).require_grad();
        let y = on(&y, device).reshape([b, n, dm]).require_grad();
        let w = on(&weight, device).reshape([dm, 3 * inner]).require_grad();
        let wq = w.clone().slice([0..dm, 0..inner]);
        let wkv = w.clone().slice([0..dm, inner..3 * inner]);
        let (query, kv) = (linear(y.clone(), wq, None), linear(x.clone(), wkv, None));
        let out = cross_attention(query, kv, on(&padding, device), heads, 0.0);
        let loss = (out.clone() * on(&random([b, heads, n, d], 705, 1.0), device)).sum();
        let grads = loss.backward();
        let mut all = vec![host(out)];
        for (what, t) in [("d_x", &x), ("d_y", &y)] {
            all.push(host(t.grad(&grads).expect(what).unsqueeze::<4>()));
        }
        all.push(host(w.grad(&grads).expect("d_w").unsqueeze::<4>()));
        all
    };
    let got = cross_run(&gpu_ad);
    let expected = cross_run(&cpu_ad);
    for (what, (got, expected)) in ["output", "d_x", "d_y", "d_w"]
        .iter()
        .zip(got.into_iter().zip(expected))
    {
        assert_close(&format!("packed cross-attention {what}"), got, expected);
    }
}

/// The packed projections' weights in one launch (`kernels::pack_columns`, f32 or f16 out)
/// against a concatenation and cast on flex: the same values, and under autodiff each block's
/// gradient the packed gradient's columns (in f16 within the rounding of the way back).
#[test]
fn pack_columns_matches_concatenation() {
    use burn::tensor::DType;
    use mixtune::kernels::{pack_columns, pack_kernel_runs};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let [rows, cols] = [70, 48];
    let datas: Vec<TensorData> = (0..3)
        .map(|i| random([1, 1, rows, cols], 800 + i, 2.0))
        .collect();
    let run = |device: &Device, blocks: usize, dtype: DType| -> Vec<Vec<f32>> {
        let leaves: Vec<Tensor<2>> = datas[..blocks]
            .iter()
            .map(|data| on(data, device).reshape([rows, cols]).require_grad())
            .collect();
        let packed = pack_columns(leaves.clone(), dtype);
        assert_eq!(packed.dtype(), dtype);
        let packed = packed.cast(DType::F32);
        let upstream = on(&random([1, 1, rows, blocks * cols], 810, 1.0), device);
        let grads = (packed.clone() * upstream.reshape([rows, blocks * cols]))
            .sum()
            .backward();
        let mut all = vec![host(packed.unsqueeze())];
        for leaf in &leaves {
            all.push(host(
                leaf.grad(&grads).expect("a block's gradient").unsqueeze(),
            ));
        }
        all
    };
    let gpu_ad = gpu.autodiff();
    for (blocks, dtype) in [(3, DType::F32), (2, DType::F16)] {
        let probe: Vec<Tensor<2>> = (0..blocks)
            .map(|_| Tensor::zeros([rows, cols], &gpu_ad))
            .collect();
        assert!(pack_kernel_runs(&probe, dtype));
        let got = run(&gpu_ad, blocks, dtype);
        let expected = run(&Device::flex().autodiff(), blocks, dtype);
        for (i, (got, expected)) in got.into_iter().zip(expected).enumerate() {
            let what = if i == 0 {
                "packed".to_string()
            } else {
                format!("d_block{i}")
            };
            // f16: the gradient passes through f16 on the way back, which fusion may round
            // or not (half an f16 ulp of the upstream values).
            let tolerance = if dtype == DType::F16 { 1e-3 } else { 1e-6 };
            assert_close_within(&format!("{dtype:?} {what}"), got, expected, tolerance);
        }
    }
}

/// `data` rounded to f16 (kept as f32): what an f16 product reads.
fn rounded_to_f16(data: TensorData) -> TensorData {
    use burn::tensor::DType;
    Tensor::<4>::from_data(data, &Device::flex())
        .cast(DType::F16)
        .cast(DType::F32)
        .into_data()
}

/// How a test stores an operand of the cooperative-matrix product.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// Row-major, as it comes.
    Rows,
    /// Its transpose stored row-major, read back as a column-major view.
    Columns,
    /// The first columns of a matrix 16 columns wider (rows spaced apart).
    Block,
}

/// An operand `[rows, cols]` with `data`'s values stored as `layout` says: the f32 leaf that
/// takes the gradient, and the view in `dtype` (f16 or f32) the product reads.
fn stored(
    data: &TensorData,
    [rows, cols]: [usize; 2],
    layout: Layout,
    device: &Device,
    dtype: burn::tensor::DType,
) -> (Tensor<2>, Tensor<2>) {
    use burn::tensor::DType;
    // f32 operands are the leaf itself (a cast to f32 would add a node).
    let cast = |t: Tensor<2>| {
        if dtype == DType::F32 {
            t
        } else {
            t.cast(dtype)
        }
    };
    match layout {
        Layout::Rows => {
            let leaf = on(data, device).reshape([rows, cols]).require_grad();
            (leaf.clone(), cast(leaf))
        }
        Layout::Columns => {
            let transposed = on(data, &Device::flex())
                .reshape([rows, cols])
                .transpose()
                .into_data();
            let leaf = Tensor::<2>::from_data(transposed, device).require_grad();
            (leaf.clone(), cast(leaf).transpose())
        }
        Layout::Block => {
            let values = on(data, &Device::flex()).reshape([rows, cols]);
            let wider = Tensor::cat(vec![values.clone(), values.slice([0..rows, 0..16])], 1);
            let leaf = Tensor::<2>::from_data(wider.into_data(), device).require_grad();
            (leaf.clone(), cast(leaf).slice([0..rows, 0..cols]))
        }
    }
}

/// The operand layouts the product tests try, each read in place.
const PRODUCT_LAYOUTS: [(Layout, Layout); 4] = [
    (Layout::Rows, Layout::Rows),
    (Layout::Columns, Layout::Rows),
    (Layout::Rows, Layout::Columns),
    (Layout::Columns, Layout::Block),
];

/// One case of a product test: `a` `[m, k]` and `b` `[k, n]` (`dims`) stored as `layouts`
/// say and multiplied in `dtype` by `kernels::matmul`, its output weighted by `upstream`.
struct ProductCase<'a> {
    name: String,
    data: [&'a TensorData; 3],
    dims: [usize; 3],
    layouts: (Layout, Layout),
    dtype: burn::tensor::DType,
}

/// What a case ran on one device: the output and both operands' gradients, as f32, and the
/// launches by kernel forward and backward.
type ProductRun = (
    Vec<f32>,
    Vec<Vec<f32>>,
    std::collections::BTreeMap<&'static str, usize>,
    std::collections::BTreeMap<&'static str, usize>,
);

impl ProductCase<'_> {
    /// On `device`; `inspect` sees the operands once made (their making not counted).
    fn run(&self, device: &Device, inspect: &dyn Fn(&Tensor<2>, &Tensor<2>)) -> ProductRun {
        use burn::tensor::DType;
        let ([a, b, upstream], [m, k, n]) = (self.data, self.dims);
        let (a_leaf, a_op) = stored(a, [m, k], self.layouts.0, device, self.dtype);
        let (b_leaf, b_op) = stored(b, [k, n], self.layouts.1, device, self.dtype);
        read_together([
            a_op.clone().cast(DType::F32).reshape([m * k]),
            b_op.clone().cast(DType::F32).reshape([k * n]),
        ]);
        inspect(&a_op, &b_op);
        let (out, forward) = mixtune::device::profile::launches_by_kernel(device, || {
            let out = mixtune::kernels::matmul(a_op, b_op);
            assert_eq!(out.dtype(), self.dtype, "{}", self.name);
            read_together([out.clone().cast(DType::F32).reshape([m * n])]);
            out
        });
        let loss = (out.clone().cast(DType::F32) * on(upstream, device).reshape([m, n])).sum();
        let out = read_together([out.cast(DType::F32).reshape([m * n])]).remove(0);
        let (grads, backward) = mixtune::device::profile::launches_by_kernel(device, || {
            let grads = loss.backward();
            read_together([
                a_leaf.grad(&grads).expect("d_a").flatten(0, 1),
                b_leaf.grad(&grads).expect("d_b").flatten(0, 1),
            ])
        });
        (
            out,
            grads,
            forward.unwrap_or_default(),
            backward.unwrap_or_default(),
        )
    }

    /// `kernels::linear` of `a` as a `[2, m / 2, k]` input and `b` as the weight, in `dtype`,
    /// on `device` (no autodiff): the output back in its shape, as f32, and the launches.
    fn linear(
        &self,
        device: &Device,
    ) -> (Vec<f32>, std::collections::BTreeMap<&'static str, usize>) {
        use burn::tensor::DType;
        let ([a, b, _], [m, k, n]) = (self.data, self.dims);
        let [batch, len] = [2, m / 2];
        let cast = |t: Tensor<3>| {
            if self.dtype == DType::F32 {
                t
            } else {
                t.cast(self.dtype)
            }
        };
        let x = cast(on(a, device).reshape([batch, len, k]));
        let w = on(b, device).reshape([k, n]);
        let w = if self.dtype == DType::F32 {
            w
        } else {
            w.cast(self.dtype)
        };
        let (out, launches) = mixtune::device::profile::launches_by_kernel(device, || {
            let out = mixtune::kernels::linear(x, w);
            assert_eq!(out.dims(), [batch, len, n]);
            read_together([out.cast(DType::F32).reshape([m * n])]).remove(0)
        });
        (out, launches.unwrap_or_default())
    }

    /// On `gpu` (autodiff) against flex: every layout read in place (one `products` launch
    /// forward, no copy; two backward), the output and both gradients within `tolerance` of
    /// the peak. `inspect` sees the GPU's operands.
    fn assert_matches(
        &self,
        gpu: &Device,
        products: &[&str],
        tolerance: f32,
        inspect: &dyn Fn(&Tensor<2>, &Tensor<2>),
    ) -> (
        std::collections::BTreeMap<&'static str, usize>,
        std::collections::BTreeMap<&'static str, usize>,
    ) {
        const COPIES: &[&str] = &["Copy", "contiguous"];
        let name = &self.name;
        let (out, grads, forward, backward) = self.run(gpu, inspect);
        assert_eq!(launched(&forward, products), 1, "{name}: {forward:?}");
        assert_eq!(launched(&forward, COPIES), 0, "{name}: {forward:?}");
        assert_eq!(launched(&backward, products), 2, "{name}: {backward:?}");
        let (expected_out, expected, _, _) = self.run(&Device::flex().autodiff(), &|_, _| {});
        assert_close_within(&format!("{name} output"), out, expected_out, tolerance);
        for (what, (got, expected)) in ["d_a", "d_b"].iter().zip(grads.into_iter().zip(expected)) {
            assert_close_within(&format!("{name} {what}"), got, expected, tolerance);
        }
        (forward, backward)
    }
}

#[test]
fn coop_matmul_matches_reference_forward_and_backward() {
    use burn::tensor::DType;
    use mixtune::kernels::{coop_kernel_runs, coop_matmul_shape, device_coop_shape, matmul, Pick};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let gpu_ad = gpu.clone().autodiff();
    // Whole tiles of the largest shape (16), at least two blocks of 4 × 4 tiles tall and wide
    // (what `coop_matmul_shape` asks) for each product (the gradients' `m × k` and `k × n`
    // too), overhanging the blocks at tile 8 and at 16; K ends inside a staged kernel's last
    // stage of 32.
    let [m, k, n] = [144, 144, 176];
    let a = rounded_to_f16(random([1, 1, m, k], 700, 1.0));
    let b = rounded_to_f16(random([1, 1, k, n], 701, 1.0));
    let upstream = rounded_to_f16(random([1, 1, m, n], 703, 1.0));
    let name = gpu
        .identity()
        .map(|identity| identity.name)
        .unwrap_or_default();
    let capable = mixtune::kernels::adapter_shape(&name);
    let Some(shape) = device_coop_shape(&gpu_ad) else {
        assert_eq!(
            capable, None,
            "{name} has cooperative matrices: the self-check failed"
        );
        // CI's lavapipe (Mesa 22) has no cooperative matrices: `matmul` is Burn's there.
        let a16 = on(&a, &gpu).reshape([m, k]).cast(DType::F16);
        let b16 = on(&b, &gpu).reshape([k, n]).cast(DType::F16);
        assert!(coop_matmul_shape(&a16, &b16).is_none());
        let out = matmul(a16.clone(), b16.clone())
            .cast(DType::F32)
            .reshape([m * n]);
        let expected = a16.matmul(b16).cast(DType::F32).reshape([m * n]);
        assert_eq!(read_together([out]), read_together([expected]));
        println!("skipped: the adapter has no f16 cooperative matrices");
        return;
    };
    println!("cooperative matrices: {shape:?}");
    // A decode step's few rows, and sizes that are not whole tiles, take Burn's matmul.
    let f16 = |rows: usize, cols: usize| Tensor::<2>::ones([rows, cols], &gpu).cast(DType::F16);
    let tile = shape.tile as usize;
    assert!(coop_matmul_shape(&f16(tile, k), &f16(k, n)).is_none());
    assert!(coop_matmul_shape(&f16(m, k + 1), &f16(k + 1, n)).is_none());
    assert!(coop_matmul_shape(&f16(m, k).cast(DType::F32), &f16(k, n).cast(DType::F32)).is_none());

    const PRODUCTS: &[&str] = &["CoopMatmulKernel"];
    for staged in [false, true] {
        // One kernel asked for: each takes every product it fits, unmeasured.
        mixtune::kernels::set_coop_staged(if staged { Pick::Always } else { Pick::Never });
        for layouts in PRODUCT_LAYOUTS {
            let variant = if staged { "staged" } else { "direct" };
            let case = ProductCase {
                name: format!("{variant}: A {:?}, B {:?}", layouts.0, layouts.1),
                data: [&a, &b, &upstream],
                dims: [m, k, n],
                layouts,
                dtype: DType::F16,
            };
            let inspect = |a16: &Tensor<2>, b16: &Tensor<2>| {
                assert_eq!(coop_matmul_shape(a16, b16), Some(shape), "{}", case.name);
                // Its self-check, here rather than among the counted launches.
                assert!(coop_kernel_runs(&gpu, staged), "{}", case.name);
            };
            // f16 out: each value rounded once (2^-11 relative), the sums in f32.
            case.assert_matches(&gpu_ad, PRODUCTS, 2e-3, &inspect);
        }
    }
    mixtune::kernels::set_coop_staged(Pick::Never);

    // `kernels::linear`: a `[batch, len, d_in]` input as rows, back in its shape.
    let case = ProductCase {
        name: "linear".into(),
        data: [&a, &b, &upstream],
        dims: [m, k, n],
        layouts: (Layout::Rows, Layout::Rows),
        dtype: DType::F16,
    };
    let linear = |device: &Device| case.linear(device);
    let (out, launches) = linear(&gpu);
    assert_eq!(launched(&launches, PRODUCTS), 1, "linear: {launches:?}");
    let (expected, _) = linear(&Device::flex());
    assert_close_within("linear output", out, expected, 2e-3);
    mixtune::kernels::set_coop_staged(Pick::Measured);
}

/// `shaders/tiled_matmul.wgsl`, the f32 register-tiled product (`MIXTUNE_F32_GEMM=1`),
/// against Burn's f32 matmul on flex: its output and both gradients for row-major,
/// column-major and column-block operands, with blocks that overhang M and N and a last
/// stage of K that K ends inside (within 1e-5 of the peak); one launch forward and none
/// copying, two backward; `kernels::linear` on a `[batch, len, d]` input in one launch; and
/// off (`MIXTUNE_F32_GEMM=0`), Burn's matmul again.
#[test]
fn tiled_f32_matmul_matches_reference_forward_and_backward() {
    use burn::tensor::DType;
    use mixtune::kernels::{set_f32_gemm, tiled_f32_fits, Pick};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let gpu_ad = gpu.clone().autodiff();
    // M, N and K past one 128-wide block, so that each product (the gradients' `m × k` and
    // `k × n` too) is one the kernel takes, and K past 8 stages of 16 with a tail of 8
    // (multiples of 8: read in place).
    let [m, k, n] = [200, 136, 264];
    let a = random([1, 1, m, k], 710, 1.0);
    let b = random([1, 1, k, n], 711, 1.0);
    let upstream = random([1, 1, m, n], 712, 1.0);
    const PRODUCTS: &[&str] = &["TiledMatmulKernel"];
    let on_gpu = |tensor: Tensor<2>| tensor.to_device(&gpu);
    set_f32_gemm(Pick::Never);
    let x = on_gpu(on(&a, &Device::flex()).reshape([m, k]));
    let y = on_gpu(on(&b, &Device::flex()).reshape([k, n]));
    assert!(!tiled_f32_fits(&x, &y), "off");
    // Always: it takes every product it fits, unmeasured.
    set_f32_gemm(Pick::Always);
    assert!(tiled_f32_fits(&x, &y));
    // A decode step's few rows, and sizes not multiples of 4, keep Burn's matmul.
    assert!(!tiled_f32_fits(&x.clone().slice([0..8, 0..k]), &y));
    assert!(!tiled_f32_fits(
        &x.clone().slice([0..m, 0..k - 2]),
        &y.clone().slice([0..k - 2, 0..n])
    ));

    for layouts in PRODUCT_LAYOUTS {
        let case = ProductCase {
            name: format!("tiled f32: A {:?}, B {:?}", layouts.0, layouts.1),
            data: [&a, &b, &upstream],
            dims: [m, k, n],
            layouts,
            dtype: DType::F32,
        };
        let inspect = |a32: &Tensor<2>, b32: &Tensor<2>| {
            assert!(tiled_f32_fits(a32, b32), "{}", case.name);
        };
        case.assert_matches(&gpu_ad, PRODUCTS, 1e-5, &inspect);
    }

    // `kernels::linear`: a `[batch, len, d_in]` input as rows, back in its shape.
    let case = ProductCase {
        name: "linear".into(),
        data: [&a, &b, &upstream],
        dims: [m, k, n],
        layouts: (Layout::Rows, Layout::Rows),
        dtype: DType::F32,
    };
    let linear = |device: &Device| case.linear(device);
    let (out, launches) = linear(&gpu);
    assert_eq!(launched(&launches, PRODUCTS), 1, "linear: {launches:?}");
    let (expected, _) = linear(&Device::flex());
    assert_close_within("linear output", out, expected, 1e-5);

    set_f32_gemm(Pick::Never);
    let (_, launches) = linear(&gpu);
    assert_eq!(launched(&launches, PRODUCTS), 0, "off: {launches:?}");
    set_f32_gemm(Pick::Measured);
}

/// A product plan (`kernels::product_plan`) gives each of a product's three matrix products
/// its own kernel: with the choices pinned (forward and `aᵀ · dc` on the tiled f32 kernel,
/// `dc · bᵀ` on Burn's, then the other way round), the tiled kernel runs exactly the products
/// it was given, and the output and both gradients agree with flex either way.
#[test]
fn a_product_plan_takes_each_product_by_the_kernel_chosen_for_it() {
    use burn::tensor::DType;
    use mixtune::kernels::{
        product_choice, product_kernels, set_f32_gemm, tiled_f32_product_fits, Pick, Product,
    };

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let gpu_ad = gpu.clone().autodiff();
    // Every product at least a block wide: `dc · bᵀ` is m × k, `aᵀ · dc` k × n.
    let [m, k, n] = [160, 136, 200];
    set_f32_gemm(Pick::Measured);
    if !tiled_f32_product_fits(&gpu, [m, k, n]) {
        println!("skipped: the tiled f32 kernel does not run here");
        return;
    }
    let (a, b, upstream) = (
        random([1, 1, m, k], 720, 1.0),
        random([1, 1, k, n], 721, 1.0),
        random([1, 1, m, n], 722, 1.0),
    );
    const PRODUCTS: &[&str] = &["TiledMatmulKernel"];
    let tiled = Some(Product::TiledF32);
    for (forward, grad_a, grad_b) in [(tiled, None, tiled), (None, tiled, None)] {
        let pin = |dims, row_major, taker| {
            let (candidates, _) = product_kernels(&gpu, DType::F32, dims);
            product_choice::pin(&gpu, &candidates, dims, row_major, taker);
        };
        pin([m, k, n], [true, true], forward);
        pin([m, n, k], [true, false], grad_a);
        pin([k, m, n], [false, true], grad_b);
        let case = ProductCase {
            name: format!("forward {forward:?}, d_a {grad_a:?}, d_b {grad_b:?}"),
            data: [&a, &b, &upstream],
            dims: [m, k, n],
            layouts: (Layout::Rows, Layout::Rows),
            dtype: DType::F32,
        };
        let (out, grads, forward_launches, backward_launches) = case.run(&gpu_ad, &|_, _| {});
        let name = &case.name;
        let expected_forward = usize::from(forward.is_some());
        let expected_backward = usize::from(grad_a.is_some()) + usize::from(grad_b.is_some());
        assert_eq!(
            launched(&forward_launches, PRODUCTS),
            expected_forward,
            "{name}"
        );
        assert_eq!(
            launched(&backward_launches, PRODUCTS),
            expected_backward,
            "{name}"
        );
        let (expected_out, expected, _, _) = case.run(&Device::flex().autodiff(), &|_, _| {});
        assert_close_within(&format!("{name} output"), out, expected_out, 1e-5);
        for (what, (got, expected)) in ["d_a", "d_b"].iter().zip(grads.into_iter().zip(expected)) {
            assert_close_within(&format!("{name} {what}"), got, expected, 1e-5);
        }
    }
}

/// Each of `variants` (a kernel's name, and whether it splits K) given all three products of
/// a `[m, k, n]` layer in `dtype` (pinned choices; each variant must be a candidate for each
/// product), against flex for every layout ([`ProductCase::assert_matches`]: one `kernel`
/// launch forward and two backward, none copying, within `tolerance` of the peak), a split
/// one adding its parts in one more launch a product.
fn assert_pinned_variants(
    gpu: &Device,
    dtype: burn::tensor::DType,
    [m, k, n]: [usize; 3],
    data: [&TensorData; 3],
    variants: &[(&str, bool)],
    kernel: &str,
    tolerance: f32,
) {
    use mixtune::kernels::{product_choice, product_kernels};
    // The forward product, then the gradients' (`dc · bᵀ`, `aᵀ · dc`), as plans key them.
    let products = [
        ([m, k, n], [true, true]),
        ([m, n, k], [true, false]),
        ([k, m, n], [false, true]),
    ];
    let gpu_ad = gpu.clone().autodiff();
    for &(variant, split) in variants {
        for (dims, row_major) in products {
            let (candidates, _) = product_kernels(gpu, dtype, dims);
            let taker = candidates.iter().copied().find(|p| p.name() == variant);
            assert!(taker.is_some(), "{variant} fits {dims:?}: {candidates:?}");
            product_choice::pin(gpu, &candidates, dims, row_major, taker);
        }
        for layouts in PRODUCT_LAYOUTS {
            let case = ProductCase {
                name: format!("{variant}: A {:?}, B {:?}", layouts.0, layouts.1),
                data,
                dims: [m, k, n],
                layouts,
                dtype,
            };
            let (forward, backward) =
                case.assert_matches(&gpu_ad, &[kernel], tolerance, &|_, _| {});
            let (name, sums, split) = (&case.name, &["SumPartsKernel"], usize::from(split));
            assert_eq!(launched(&forward, sums), split, "{name}: {forward:?}");
            assert_eq!(launched(&backward, sums), 2 * split, "{name}: {backward:?}");
        }
    }
}

/// The narrow (64-wide) and split-K variants of the tiled f32 product, each given all three
/// products of a layer, against Burn's f32 matmul on flex ([`assert_pinned_variants`], within
/// 1e-5 of the peak). Sizes: every product's K at least two parts' worth (512), M and N past
/// whole 64- and 128-wide blocks, and K ending inside a stage of the last part.
#[test]
fn narrow_and_split_k_tiled_products_match_reference() {
    use burn::tensor::DType;
    use mixtune::kernels::{set_f32_gemm, tiled_f32_product_fits, Pick};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    let [m, k, n] = [520, 536, 552];
    set_f32_gemm(Pick::Measured);
    if !tiled_f32_product_fits(&gpu, [m, k, n]) {
        println!("skipped: the tiled f32 kernel does not run here");
        return;
    }
    let (a, b, upstream) = (
        random([1, 1, m, k], 750, 1.0),
        random([1, 1, k, n], 751, 1.0),
        random([1, 1, m, n], 752, 1.0),
    );
    let variants = [("tiled-f32-64", false), ("tiled-f32-split-k", true)];
    let data = [&a, &b, &upstream];
    assert_pinned_variants(
        &gpu,
        DType::F32,
        [m, k, n],
        data,
        &variants,
        "TiledMatmulKernel",
        1e-5,
    );
}

/// The cooperative-matrix product split in K (`coop-split-k`), given all three products of
/// a layer, against Burn's f32 matmul of the same f16 values on flex
/// ([`assert_pinned_variants`], within 2e-3 of the peak: each output rounded to f16 once,
/// from the sum of the parts' f32 sums). Sizes: whole 16-tiles, every product's K two parts'
/// worth (512). Where the adapter has no cooperative matrices (CI's lavapipe), skipped.
#[test]
fn split_k_coop_products_match_reference() {
    use burn::tensor::DType;
    use mixtune::kernels::{device_coop_shape, set_coop_staged, Pick};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    if device_coop_shape(&gpu).is_none() {
        println!("skipped: the adapter has no f16 cooperative matrices");
        return;
    }
    let [m, k, n] = [528, 528, 560];
    set_coop_staged(Pick::Measured);
    let (a, b, upstream) = (
        rounded_to_f16(random([1, 1, m, k], 760, 1.0)),
        rounded_to_f16(random([1, 1, k, n], 761, 1.0)),
        rounded_to_f16(random([1, 1, m, n], 762, 1.0)),
    );
    let data = [&a, &b, &upstream];
    let variants = [("coop-split-k", true)];
    assert_pinned_variants(
        &gpu,
        DType::F16,
        [m, k, n],
        data,
        &variants,
        "CoopMatmulKernel",
        2e-3,
    );
}

/// Measured choices (`MIXTUNE_F32_GEMM` unset): the first f32 product of a size class times
/// Burn's matmul and the tiled kernel and records the faster (by the margin); the next product
/// of that class, of other sizes, reuses it without measuring, and takes the recorded kernel;
/// both products equal flex's. On a software adapter, first that Burn's takes a product
/// unmeasured unless measuring there is turned on.
#[test]
fn measured_choices_are_made_once_per_size_class_and_followed() {
    use burn::tensor::DType;
    use mixtune::kernels::{product_choice, set_f32_gemm, tiled_f32_product_fits, Pick};

    let Some((gpu, _alone)) = gpu_alone() else {
        return;
    };
    set_f32_gemm(Pick::Measured);
    // Size class 256 × 64 × 512, which no other test of this file multiplies in f32.
    let (first, second) = ([256, 64, 384], [200, 60, 300]);
    if !tiled_f32_product_fits(&gpu, first) {
        println!("skipped: the tiled f32 kernel does not run here");
        return;
    }
    let product = |[m, k, n]: [usize; 3], seed: u64| {
        let (a, b) = (
            random([1, 1, m, k], seed, 1.0),
            random([1, 1, k, n], seed + 1, 1.0),
        );
        let multiply = |device: &Device| {
            let (a, b) = (
                on(&a, device).reshape([m, k]),
                on(&b, device).reshape([k, n]),
            );
            mixtune::device::profile::launches_by_kernel(device, || {
                let out = mixtune::kernels::matmul(a, b);
                read_together([out.cast(DType::F32).reshape([m * n])]).remove(0)
            })
        };
        let (out, launches) = multiply(&gpu);
        let (expected, _) = multiply(&Device::flex());
        assert_close_within(&format!("{m}×{k}×{n} output"), out, expected, 1e-5);
        launched(&launches.unwrap_or_default(), &["TiledMatmulKernel"])
    };
    // CI's lavapipe is a software adapter, where products are not measured by default:
    // Burn's takes them and nothing is recorded.
    if gpu
        .identity()
        .is_some_and(|identity| identity.physical.is_none())
    {
        assert!(!product_choice::measures_on(&gpu), "measures on software");
        let before = product_choice::known();
        assert_eq!(product(first, 720), 0, "a tiled launch unmeasured");
        assert_eq!(product_choice::known().len(), before.len(), "measured");
    }
    let _measuring = MeasuredOnSoftware::new();
    assert!(product_choice::measures_on(&gpu), "measuring turned on");
    let before = product_choice::known();
    product(first, 730);
    let after = product_choice::known();
    let new: Vec<_> = after
        .iter()
        .filter(|(key, _)| !before.contains_key(*key))
        .collect();
    assert_eq!(new.len(), 1, "one choice made: {new:?}");
    let (key, record) = new[0];
    println!("{key}: {record:?}");
    assert!(key.contains("256x64x512 | rr"), "{key}");
    if key.starts_with("llvmpipe") {
        // The driver and its version, so a driver update measures again.
        assert!(key.contains("(llvmpipe Mesa "), "{key}");
    }
    assert_eq!(record.measured, first);
    for candidate in ["burn", "tiled-f32", "tiled-f32-64"] {
        assert!(
            record.seconds.get(candidate).is_some_and(|s| *s > 0.0),
            "{record:?}"
        );
    }
    assert_eq!(
        record.chosen,
        mixtune::kernels::choice_store::decide(&record.seconds),
        "the rule's choice"
    );
    // The same class again: no measurement, and the recorded kernel takes it.
    let tiled_launches = product(second, 740);
    assert_eq!(product_choice::known().len(), after.len(), "measured again");
    let expected = usize::from(record.chosen != "burn");
    assert_eq!(tiled_launches, expected, "{}", record.chosen);
}

/// Every layout and block variant of `shaders/tiled_matmul.wgsl`, and `sum_parts.wgsl`,
/// parse, validate and lower to SPIR-V in naga.
#[test]
fn tiled_matmul_shader_compiles_for_every_variant() {
    for block in [128, 64] {
        for (a_row_major, b_row_major) in
            [(true, true), (true, false), (false, true), (false, false)]
        {
            let text = mixtune::kernels::filled_tiled_shader(a_row_major, b_row_major, block);
            compiles_to_spirv(
                &text,
                &format!("tiled {block}, A rows {a_row_major}, B rows {b_row_major}"),
            );
        }
    }
    for half in [false, true] {
        let text = mixtune::kernels::filled_sum_parts_shader(half);
        compiles_to_spirv(&text, &format!("sum of parts, f16 out {half}"));
    }
}

/// Every variant of `shaders/coop_matmul.wgsl` and `coop_matmul_staged.wgsl` the host can pick
/// parses, validates and lowers
/// to SPIR-V in naga (the compiler wgpu runs on it), whatever adapter this machine has: CI's
/// lavapipe has no cooperative matrices, so this is where CI sees the shader compile (its
/// results are checked above, on an adapter that has them).
#[test]
fn coop_matmul_shader_compiles_for_every_variant() {
    use mixtune::kernels::{filled_shader, CoopShape};

    for (tile, staged, split) in [
        (8, false, false),
        (16, false, false),
        (8, true, false),
        (16, true, false),
        (8, false, true),
        (16, false, true),
    ] {
        for (a_row_major, b_row_major) in [(true, true), (true, false), (false, true)] {
            let shape = CoopShape { tile, subgroup: 32 };
            let text = filled_shader(shape, staged, split, a_row_major, b_row_major);
            compiles_to_spirv(
                &text,
                &format!("tile {tile}, staged {staged}, split {split}"),
            );
        }
    }
}

/// The cooperative-matrix attention kernels (forward, dq, dkv) through naga to SPIR-V, for
/// NVIDIA's shape (16, subgroup 32), AMD's (16, 64) and lavapipe's (8, 8): what CI's Mesa 22,
/// which has no cooperative matrices, checks of them (their results are checked in
/// `f16_attention_on_cooperative_matrices_matches_reference`, on an adapter that has them).
#[test]
fn coop_attention_shaders_compile_for_every_pass() {
    use mixtune::kernels::{CoopAttention, CoopAttentionPass, CoopShape};

    for (tile, subgroup) in [(16, 32), (16, 64), (8, 8)] {
        for pass in CoopAttentionPass::ALL {
            let kernel = CoopAttention {
                pass,
                shape: CoopShape { tile, subgroup },
            };
            compiles_to_spirv(&kernel.filled(), &format!("{pass:?}, tile {tile}"));
        }
    }
}

/// Parses, validates and writes `text` as SPIR-V with naga (as wgpu does on Vulkan), or
/// panics with naga's report.
fn compiles_to_spirv(text: &str, what: &str) {
    use burn::cubecl::wgpu::wgpu::naga;

    let module = naga::front::wgsl::parse_str(text)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(text)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(text)));
    let words =
        naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
            .expect("SPIR-V");
    assert!(words.len() > 100, "{what}: {} words", words.len());
}
