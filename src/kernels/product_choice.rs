//! Which kernel takes a matrix product that Burn's matmul and ours both can: timed on the
//! adapter the first time a product of its size class and layout comes, then remembered for
//! the process and, in builds that keep compiled kernels (`gpu-cache`), in
//! `product-choices.json` beside them. One of ours takes a product only where it measured
//! faster than Burn's here (`choice_store::decide`), so a kernel of ours can never make a run
//! slower than Burn's alone by more than the noise of its measurement.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use burn::tensor::{Device, Tensor};

use super::choice_store::{self, ChoiceStore, Record, BURN};
use super::Product;

/// The choices of this process (opened from the file at first use).
static STORE: Mutex<Option<ChoiceStore>> = Mutex::new(None);

/// The time of one batch of products in a measurement.
const BATCH_SECONDS: f64 = 4e-3;

/// Held while a product is measured: two measurements at once would time each other.
static MEASURING: Mutex<()> = Mutex::new(());

/// 0: not read yet, 1: on, 2: off (see [`set_measure_on_software`]).
static ON_SOFTWARE: AtomicU8 = AtomicU8::new(0);

/// Whether products are measured on a software adapter (lavapipe, WARP) too, for the whole
/// process. Off by default (`MIXTUNE_MEASURE_ON_SOFTWARE=1` turns it on): there the kernels
/// run on the CPU, nobody trains for speed, and a measurement costs what it does not save
/// (Burn's matmul tunes its plain-product key for each size class, compiling every candidate
/// on the CPU: minutes per class on lavapipe), so Burn's matmul takes every product that is
/// not already recorded. Tests and `mixtune bench gemm` turn it on.
pub fn set_measure_on_software(on: bool) {
    ON_SOFTWARE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// Whether products are measured on software adapters (see [`set_measure_on_software`]).
pub fn measures_on_software() -> bool {
    super::switch(&ON_SOFTWARE, "MIXTUNE_MEASURE_ON_SOFTWARE", false)
}

/// Whether products are measured on `device`: where its adapter is a card, or a software
/// one with [`measures_on_software`].
pub fn measures_on(device: &Device) -> bool {
    device
        .identity()
        .is_some_and(|identity| identity.physical.is_some())
        || measures_on_software()
}

/// Where the choices are kept: beside the compiled kernels where those are kept, else
/// nowhere (this process only).
fn store_path() -> Option<std::path::PathBuf> {
    cfg!(feature = "gpu-cache")
        .then(|| crate::device::kernel_cache_dir().join("product-choices.json"))
}

/// `f` on the process's choices.
fn with_store<T>(f: impl FnOnce(&mut ChoiceStore) -> T) -> T {
    let mut store = STORE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(store.get_or_insert_with(|| ChoiceStore::open(store_path())))
}

/// The key of a product `dims` `[m, k, n]` with operands `row_major` (A, B) on `device`
/// among `candidates` (the adapter with its driver and version where wgpu names them, so a
/// driver update measures again); `None` for a device that names no adapter.
fn key_of(
    device: &Device,
    candidates: &[Product],
    dims: [usize; 3],
    row_major: [bool; 2],
) -> Option<String> {
    let identity = device.identity()?;
    let names: Vec<String> = candidates
        .iter()
        .map(|product| format!("{}@{:08x}", product.name(), product.shader_hash() as u32))
        .collect();
    let adapter = match super::coop_matmul::adapter_driver(&identity.name) {
        Some(driver) => format!("{} ({driver})", identity.name),
        None => identity.name,
    };
    Some(choice_store::key(
        &adapter,
        &names.join("+"),
        dims,
        row_major,
    ))
}

/// Who takes the product `[m, k] · [k, n]` (`dims`) with operands `row_major` (A, B) on
/// `device`: one of `candidates` (ours, each already known to fit it) or Burn's matmul
/// (`None`). Remembered for its key; else measured now, which runs each candidate and Burn's
/// a few times on operands of these sizes and syncs the device (a first step's work, once
/// per size class on an adapter). On a software adapter, Burn's unmeasured unless
/// [`measures_on_software`].
pub fn choose(
    device: &Device,
    candidates: &[Product],
    dims: [usize; 3],
    row_major: [bool; 2],
) -> Option<Product> {
    if candidates.is_empty() {
        return None;
    }
    let key = key_of(device, candidates, dims, row_major)?;
    let by_name = |name: &str| candidates.iter().copied().find(|p| p.name() == name);
    if let Some(known) = with_store(|store| store.get(&key).map(|r| r.chosen.clone())) {
        return by_name(&known);
    }
    if !measures_on(device) {
        return None;
    }
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Another thread may have measured it while this one waited.
    if let Some(known) = with_store(|store| store.get(&key).map(|r| r.chosen.clone())) {
        return by_name(&known);
    }
    let seconds = measure(device, candidates, dims, row_major);
    let chosen = choice_store::decide(&seconds);
    let record = Record {
        chosen: chosen.clone(),
        seconds,
        measured: dims,
    };
    with_store(|store| store.insert(key, record));
    by_name(&chosen)
}

/// Records `taker` (`None`: Burn's) as the choice for such a product, as a measurement
/// would, with no times: for tests that need a given plan.
pub fn pin(
    device: &Device,
    candidates: &[Product],
    dims: [usize; 3],
    row_major: [bool; 2],
    taker: Option<Product>,
) {
    let Some(key) = key_of(device, candidates, dims, row_major) else {
        return;
    };
    let record = Record {
        chosen: taker.map_or(BURN, Product::name).to_string(),
        seconds: BTreeMap::new(),
        measured: dims,
    };
    with_store(|store| store.insert(key, record));
}

/// Every choice this process knows (made here or read from the file), by key.
pub fn known() -> BTreeMap<String, Record> {
    with_store(|store| store.all().clone())
}

/// Seconds per product for Burn's matmul and each of `candidates` on operands of these
/// sizes and layouts in their dtype (small integers: the kernels' speed does not depend on
/// the values): each run once to build (and tune) it, once more to size the batches
/// ([`BATCH_SECONDS`] of products each), then the best of three batches, taken in turn. A
/// candidate that fails or panics is left out (so it is not chosen), with the reason on
/// stderr.
fn measure(
    device: &Device,
    candidates: &[Product],
    [m, k, n]: [usize; 3],
    [a_rows, b_rows]: [bool; 2],
) -> BTreeMap<String, f64> {
    let device = device.clone().without_autodiff();
    let dtype = candidates[0].dtype();
    let operand = |rows: usize, cols: usize, row_major: bool| {
        let dims = if row_major {
            [rows, cols]
        } else {
            [cols, rows]
        };
        // Small integers from a counter, not from the device's generator: a measurement
        // must not move the random draws (dropout) of the run it happens in.
        let t = super::small_integers(dims, 1, &device).cast(dtype);
        if row_major {
            t
        } else {
            t.transpose()
        }
    };
    let (a, b) = (operand(m, k, a_rows), operand(k, n, b_rows));
    let takers: Vec<Option<Product>> = std::iter::once(None)
        .chain(candidates.iter().copied().map(Some))
        .collect();
    let name = |taker: &Option<Product>| taker.map_or(BURN, Product::name);
    let per_product = |taker: Option<Product>, count: usize| -> Result<f64, String> {
        let run = || {
            let start = Instant::now();
            let outputs: Vec<Tensor<2>> = (0..count)
                .map(|_| match taker {
                    None => a.clone().matmul(b.clone()),
                    Some(product) => super::extension::matmul(a.clone(), b.clone(), product),
                })
                .collect();
            device.sync().map_err(|e| format!("{e:?}"))?;
            drop(outputs);
            Ok(start.elapsed().as_secs_f64() / count as f64)
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
            .unwrap_or_else(|_| Err("a kernel panicked".into()))
    };
    let mut best: BTreeMap<String, f64> = BTreeMap::new();
    // Seconds of each candidate's second single product; a failed one is not here.
    let mut first = BTreeMap::new();
    for taker in &takers {
        let once = per_product(*taker, 1).and_then(|_| per_product(*taker, 1));
        match once {
            Ok(seconds) => {
                first.insert(name(taker).to_string(), seconds);
            }
            Err(reason) => {
                eprintln!(
                    "measuring {} for a {m}×{k}×{n} product failed ({reason}): not used there",
                    name(taker)
                );
            }
        }
    }
    let fastest = first.values().copied().fold(f64::INFINITY, f64::min);
    // Batches long enough that the sync closing each (tens of microseconds) is a small
    // part of it, whatever it adds being the same for every candidate.
    let count = (BATCH_SECONDS / fastest).ceil().clamp(1.0, 256.0) as usize;
    for _ in 0..3 {
        for taker in takers.iter().filter(|t| first.contains_key(name(t))) {
            if let Ok(seconds) = per_product(*taker, count) {
                let entry = best.entry(name(taker).to_string()).or_insert(f64::INFINITY);
                *entry = entry.min(seconds);
            }
        }
    }
    best.retain(|_, seconds| seconds.is_finite() && *seconds > 0.0);
    best
}
