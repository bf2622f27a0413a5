//! What a piece of work costs the device: kernel launches (GPU builds only; the CPU backend
//! launches none), host reads (syncs) counted by [`count_host_read`], and with
//! [`measure_kernels`] the device time of every kernel, by kind (`mixtune bench --profile`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use burn::tensor::Device;
use serde::Serialize;

thread_local! {
    /// Host reads of device data made by this thread (each is a sync): what
    /// `mixtune bench --profile` reports per step. Per thread, so concurrent work elsewhere
    /// in the process does not count.
    static HOST_READS: Cell<usize> = const { Cell::new(0) };
}

/// Host reads of device data made by this thread so far.
pub fn host_reads() -> usize {
    HOST_READS.with(Cell::get)
}

/// Counts one host read (for reads made outside [`to_host_f32`] / [`to_host_ids`]).
pub fn count_host_read() {
    HOST_READS.with(|reads| reads.set(reads.get() + 1));
}

/// Launches and host reads of one [`measure`]d piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Kernel launches issued (`None` on the CPU backend or without `wgpu`).
    pub launches: Option<usize>,
    /// Reads of device data to the host, each a sync.
    pub host_reads: usize,
}

/// Runs `work` on `device` and counts its kernel launches and host reads. The device is
/// synced before and after, so queued work is counted where it was issued.
pub fn measure<T>(device: &Device, work: impl FnOnce() -> T) -> (T, Counts) {
    let reads_before = host_reads();
    let (result, launches) = launches_by_kernel(device, work);
    let counts = Counts {
        launches: launches.map(|names| names.values().sum()),
        host_reads: host_reads() - reads_before,
    };
    (result, counts)
}

/// The part of a training step the launches that follow belong to, for
/// [`KernelKind::Optimizer`]. The trainer marks it: its read of the loss and gradient norm
/// flushes the forward and backward work, so every kernel launched after the mark is the
/// gradient clipping and the optimizer update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The forward and backward passes (and anything outside a training step).
    Model,
    /// Gradient clipping and the optimizer update.
    Optimizer,
}

/// The phase and whether a measurement claims it, in one word so that a mark and a claim
/// cannot interleave: [`Phase`] in bit 0, [`CLAIMED`] in bit 1.
static PHASE: AtomicU8 = AtomicU8::new(Phase::Model as u8);

/// Set in [`PHASE`] while a thread is inside [`measure_kernels`].
const CLAIMED: u8 = 0b10;

thread_local! {
    /// Whether this thread is the one inside [`measure_kernels`].
    static MEASURER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the phase the next launches belong to (see [`Phase`]); one atomic update. The phase
/// is process-wide, because a launch is labelled on whichever thread issues it (fusion's
/// queue can be drained by another thread's sync). While a profile is being measured only
/// the measuring thread's marks count: another thread's trainer (a second run in the
/// process, a concurrent test) marking its optimizer would otherwise label the measured
/// step's matmuls as optimizer work.
pub fn set_phase(phase: Phase) {
    let measurer = MEASURER.with(Cell::get);
    let _ = PHASE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
        let claimed = word & CLAIMED;
        (claimed == 0 || measurer).then_some(claimed | phase as u8)
    });
}

/// The phase the latest counting mark set.
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
fn current_phase() -> Phase {
    if PHASE.load(Ordering::Acquire) & 1 == Phase::Optimizer as u8 {
        Phase::Optimizer
    } else {
        Phase::Model
    }
}

/// One measurement at a time in a process: a second claim's end would hand the first's
/// phase back while it still runs (and CubeCL has one launch-observer slot).
static MEASURING: Mutex<()> = Mutex::new(());

/// This thread's claim on the phase for the length of a measurement: while it lives, other
/// threads' [`set_phase`] calls are ignored and their measurements wait. Dropping it (on any
/// exit) hands the phase back.
struct PhaseClaim {
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl PhaseClaim {
    fn take() -> Self {
        let guard = MEASURING.lock().unwrap_or_else(PoisonError::into_inner);
        MEASURER.with(|m| m.set(true));
        PHASE.store(CLAIMED | Phase::Model as u8, Ordering::Release);
        PhaseClaim {
            _one_at_a_time: guard,
        }
    }
}

impl Drop for PhaseClaim {
    fn drop(&mut self) {
        PHASE.store(Phase::Model as u8, Ordering::Release);
        MEASURER.with(|m| m.set(false));
    }
}

/// What a kernel computes, as a profile groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelKind {
    /// Matrix products (Burn's matmul, with whatever fusion folded into it).
    Gemm,
    /// The fused WGSL attention kernels (`shaders/`).
    Attention,
    /// Element-wise work, fused or not (and the fused layer norm, `RmsNormKernel`).
    Elementwise,
    /// Sums, means, maxima, arg-maxima, softmax's reductions, the gradient norm's sum of
    /// squares (`shaders/sum_of_squares.wgsl`).
    Reduction,
    /// Gradient clipping and the optimizer update (everything after the trainer's mark).
    Optimizer,
    /// Copies, layout changes, gathers and scatters, slices and concatenations.
    Copy,
    /// Anything else.
    Other,
}

impl KernelKind {
    /// Every kind, in the order a profile lists them.
    pub const ALL: [KernelKind; 7] = [
        Self::Gemm,
        Self::Attention,
        Self::Elementwise,
        Self::Reduction,
        Self::Optimizer,
        Self::Copy,
        Self::Other,
    ];

    /// The kind of a kernel from its type name (as CubeCL reports launches) and the phase
    /// it was launched in. Checked in this order, since fused kernels' names carry several
    /// words: attention, matmul, reduce, copy, element-wise.
    pub fn of(name: &str, phase: Phase) -> Self {
        if phase == Phase::Optimizer {
            return Self::Optimizer;
        }
        let name = name.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
        if has(&["attention"]) {
            Self::Attention
        } else if has(&["matmul", "gemm"]) {
            Self::Gemm
        } else if has(&[
            "reduce", "argmax", "argmin", "sum_", "mean_", "prod_", "softmax", "squares",
        ]) {
            Self::Reduction
        } else if has(&[
            "copy",
            "contiguous",
            "gather",
            "scatter",
            "select",
            "slice",
            "cat",
            "repeat",
            "index",
        ]) {
            Self::Copy
        } else if has(&[
            "rmsnorm",
            "dropout",
            "gelu",
            "elemwise",
            "elementwise",
            "fuse",
            "unary",
            "binary",
            "binop",
            "fullkernel",
            "clamp",
            "cast",
            "mask",
            "fill",
            "where",
            "powf",
            "comparison",
            "scalar",
        ]) {
            Self::Elementwise
        } else {
            Self::Other
        }
    }

    /// How a profile names the kind.
    pub fn label(self) -> &'static str {
        match self {
            Self::Gemm => "GEMM",
            Self::Attention => "attention (fused)",
            Self::Elementwise => "element-wise / fused",
            Self::Reduction => "reductions",
            Self::Optimizer => "optimizer + clipping",
            Self::Copy => "copies / indexing",
            Self::Other => "other",
        }
    }
}

/// How the kernels' times were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Device timestamps around each kernel: its own run time, with the kernels still
    /// running back to back.
    Device,
    /// The host's clock around each launch (a device without timestamp queries): includes
    /// submitting and waiting, so the sum is larger than the device time.
    System,
    /// No time could be taken (only launches are counted).
    None,
}

/// One kernel (by name and kind) in a [`KernelProfile`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelStat {
    /// The kernel's type name, shortened as CubeCL's own profile shortens it.
    pub name: String,
    pub kind: KernelKind,
    pub launches: usize,
    /// Seconds over every timed launch.
    pub seconds: f64,
}

/// One launch as the observer saw it: name, phase and (when measured) its seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub name: String,
    pub phase: Phase,
    pub seconds: Option<f64>,
}

/// Where a piece of work spent its device time, kernel by kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelProfile {
    /// Kernel launches issued.
    pub launches: usize,
    /// Launches that came with a time.
    pub timed_launches: usize,
    /// Reads of device data to the host, each a sync.
    pub host_reads: usize,
    pub timing: Timing,
    /// Wall-clock seconds of the whole piece of work, profiling included.
    pub wall_seconds: f64,
    /// Every kernel, the longest first.
    pub kernels: Vec<KernelStat>,
}

/// Seconds and launches of one [`KernelKind`] in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KindTotal {
    pub kind: KernelKind,
    pub seconds: f64,
    pub launches: usize,
}

impl KernelProfile {
    /// Groups `launches` by name and kind, the longest first (ties by name).
    pub fn from_launches(
        launches: Vec<Launch>,
        timing: Timing,
        host_reads: usize,
        wall_seconds: f64,
    ) -> Self {
        let count = launches.len();
        let timed_launches = launches.iter().filter(|l| l.seconds.is_some()).count();
        let mut grouped: BTreeMap<(String, KernelKind), KernelStat> = BTreeMap::new();
        for launch in launches {
            let kind = KernelKind::of(&launch.name, launch.phase);
            let stat = grouped
                .entry((launch.name.clone(), kind))
                .or_insert_with(|| KernelStat {
                    name: launch.name,
                    kind,
                    launches: 0,
                    seconds: 0.0,
                });
            stat.launches += 1;
            stat.seconds += launch.seconds.unwrap_or(0.0);
        }
        let mut kernels: Vec<KernelStat> = grouped.into_values().collect();
        kernels.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then(a.name.cmp(&b.name)));
        let timing = if timed_launches == 0 {
            Timing::None
        } else {
            timing
        };
        Self {
            launches: count,
            timed_launches,
            host_reads,
            timing,
            wall_seconds,
            kernels,
        }
    }

    /// Seconds summed over every timed kernel.
    pub fn kernel_seconds(&self) -> f64 {
        self.kernels.iter().map(|k| k.seconds).sum()
    }

    /// Seconds and launches per kind, in [`KernelKind::ALL`]'s order, kinds with no launch
    /// left out.
    pub fn by_kind(&self) -> Vec<KindTotal> {
        KernelKind::ALL
            .iter()
            .map(|&kind| {
                let of_kind = self.kernels.iter().filter(|k| k.kind == kind);
                KindTotal {
                    kind,
                    seconds: of_kind.clone().map(|k| k.seconds).sum(),
                    launches: of_kind.map(|k| k.launches).sum(),
                }
            })
            .filter(|total| total.launches > 0)
            .collect()
    }

    /// Seconds of one kind.
    pub fn seconds_of(&self, kind: KernelKind) -> f64 {
        self.kernels
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| k.seconds)
            .sum()
    }
}

/// Runs `work` on `device` with every kernel launch timed (device timestamps where the
/// adapter has them): its launches and host reads, and where the time went (`None` on the
/// CPU backend or in a build without `wgpu`). The device is synced before and after. Timing
/// every launch costs a little per kernel, so profiled work takes longer than unprofiled.
pub fn measure_kernels<T>(
    device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Counts, Option<KernelProfile>) {
    let _ = device.sync();
    let reads_before = host_reads();
    let started = std::time::Instant::now();
    let claim = PhaseClaim::take();
    let (result, launches) = timed_launches(device, work);
    drop(claim);
    let wall_seconds = started.elapsed().as_secs_f64();
    let host_reads = host_reads() - reads_before;
    let profile = launches.map(|(launches, timing)| {
        KernelProfile::from_launches(launches, timing, host_reads, wall_seconds)
    });
    let counts = Counts {
        launches: profile.as_ref().map(|p| p.launches),
        host_reads,
    };
    (result, counts, profile)
}

/// Runs `work` with `observer` watching every launch it causes, then syncs `device` so the
/// launches fusion kept queued are issued inside the window. `false` (nothing watched) on
/// the CPU backend, which launches no kernels; `work` runs either way.
#[cfg(feature = "wgpu")]
fn observed<T>(
    device: &Device,
    observer: std::sync::Arc<dyn burn::cubecl::logging::LaunchObserver>,
    work: impl FnOnce() -> T,
) -> (T, bool) {
    if super::is_cpu(device) {
        return (work(), false);
    }
    let watching = burn::cubecl::logging::LaunchObservation::new(observer);
    let result = work();
    let _ = device.sync();
    drop(watching);
    (result, true)
}

/// Runs `work` on `device` and counts its kernel launches per kernel, by CubeCL's type name
/// (`None` on the CPU backend or without `wgpu`). Untimed, so nothing is added per launch;
/// the device is synced before and after, so queued work is counted where it was issued.
#[cfg(feature = "wgpu")]
pub fn launches_by_kernel<T>(
    device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Option<BTreeMap<&'static str, usize>>) {
    use burn::cubecl::logging::LaunchObserver;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Names(Mutex<BTreeMap<&'static str, usize>>);
    impl LaunchObserver for Names {
        fn launched(&self, kernel: &'static str) {
            if let Ok(mut names) = self.0.lock() {
                *names.entry(kernel).or_default() += 1;
            }
        }
    }
    let _ = device.sync();
    let names = Arc::new(Names::default());
    let (result, watched) = observed(device, names.clone(), work);
    let counted = std::mem::take(&mut *names.0.lock().unwrap_or_else(|e| e.into_inner()));
    (result, watched.then_some(counted))
}

/// [`launches_by_kernel`] in a build without `wgpu`: nothing to count.
#[cfg(not(feature = "wgpu"))]
pub fn launches_by_kernel<T>(
    device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Option<BTreeMap<&'static str, usize>>) {
    let _ = device.sync();
    (work(), None)
}

/// A kernel's full type name, as CubeCL's launch observer reports it, in CubeCL's balanced
/// format: what profiles classify ([`KernelKind::of`]) and print.
pub fn balanced_name(kernel: &str) -> String {
    #[cfg(feature = "wgpu")]
    {
        use burn::cubecl::config::{type_name_format, TypeNameFormatLevel};
        type_name_format(kernel, TypeNameFormatLevel::Balanced)
    }
    #[cfg(not(feature = "wgpu"))]
    kernel.to_string()
}

#[cfg(feature = "wgpu")]
fn timed_launches<T>(
    device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Option<(Vec<Launch>, Timing)>) {
    use burn::cubecl::logging::{
        Duration, LaunchObserver, ProfileDuration, TimingMethod, TimingRequest,
    };
    use std::sync::{Arc, Mutex};

    /// A launch's measurement: still on the device, or already read.
    enum Measured {
        Pending(ProfileDuration),
        Read(Duration, TimingMethod),
        Missing,
    }

    #[derive(Default)]
    struct Record(Mutex<Vec<(&'static str, Phase, Measured)>>);

    impl Record {
        fn push(&self, kernel: &'static str, measured: Measured) {
            if let Ok(mut launches) = self.0.lock() {
                launches.push((kernel, current_phase(), measured));
            }
        }

        /// The measurement of the latest launch of `kernel` still without one.
        fn fill(&self, kernel: &'static str, measured: Measured) {
            if let Ok(mut launches) = self.0.lock() {
                let open = launches
                    .iter_mut()
                    .rev()
                    .find(|(name, _, m)| *name == kernel && matches!(m, Measured::Missing));
                match open {
                    Some(slot) => slot.2 = measured,
                    None => launches.push((kernel, current_phase(), measured)),
                }
            }
        }
    }

    impl LaunchObserver for Record {
        fn launched(&self, kernel: &'static str) {
            self.push(kernel, Measured::Missing);
        }
        fn timing(&self) -> TimingRequest {
            TimingRequest::Deferred
        }
        fn profiled(&self, kernel: &'static str, profile: ProfileDuration) {
            self.fill(kernel, Measured::Pending(profile));
        }
        fn timed(&self, kernel: &'static str, duration: Duration, method: TimingMethod) {
            self.fill(kernel, Measured::Read(duration, method));
        }
    }

    let record = Arc::new(Record::default());
    let (result, watched) = observed(device, record.clone(), work);
    if !watched {
        return (result, None);
    }
    let raw = std::mem::take(&mut *record.0.lock().unwrap_or_else(|e| e.into_inner()));
    let mut device_timed = false;
    let mut system_timed = false;
    let launches = raw
        .into_iter()
        .map(|(kernel, phase, measured)| {
            let seconds = match measured {
                Measured::Pending(profile) => {
                    let method = profile.timing_method();
                    burn::cubecl::future::block_on(profile.resolve())
                        .map(|ticks| (ticks.duration().as_secs_f64(), method))
                }
                Measured::Read(duration, method) => Some((duration.as_secs_f64(), method)),
                Measured::Missing => None,
            };
            if let Some((_, method)) = seconds {
                match method {
                    TimingMethod::Device => device_timed = true,
                    TimingMethod::System => system_timed = true,
                }
            }
            Launch {
                name: balanced_name(kernel),
                phase,
                seconds: seconds.map(|(s, _)| s),
            }
        })
        .collect();
    let timing = match (device_timed, system_timed) {
        (_, true) => Timing::System,
        (true, false) => Timing::Device,
        (false, false) => Timing::None,
    };
    (result, Some((launches, timing)))
}

#[cfg(not(feature = "wgpu"))]
fn timed_launches<T>(
    _device: &Device,
    work: impl FnOnce() -> T,
) -> (T, Option<(Vec<Launch>, Timing)>) {
    (work(), None)
}

#[cfg(test)]
mod tests {
    /// While a profile is measured, a trainer on another thread marking its phase does not
    /// relabel the measured thread's launches (a concurrent test's did, in CI), not even a
    /// mark already under way when the measurement starts: a thread marking in a loop
    /// straddles the claim. (Outside a measurement any thread's mark counts, which
    /// concurrent tests make untestable here.)
    #[test]
    fn only_the_measuring_thread_marks_the_phase() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;

        let stop = Arc::new(AtomicBool::new(false));
        let marking = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    set_phase(Phase::Optimizer);
                }
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        for _ in 0..200 {
            let claim = PhaseClaim::take();
            for _ in 0..100 {
                assert_eq!(current_phase(), Phase::Model);
            }
            set_phase(Phase::Optimizer);
            assert_eq!(current_phase(), Phase::Optimizer);
            assert_another_thread_cannot_mark();
            drop(claim);
        }
        stop.store(true, Ordering::Relaxed);
        marking.join().unwrap();
    }

    /// Under this thread's claim, with the optimizer phase marked: another thread's mark does
    /// not count.
    fn assert_another_thread_cannot_mark() {
        std::thread::spawn(|| set_phase(Phase::Model))
            .join()
            .unwrap();
        assert_eq!(current_phase(), Phase::Optimizer);
    }

    /// A measurement started on another thread (a concurrent test's, on any device) waits
    /// for the one under way instead of ending its claim: the second claim's end used to
    /// hand the phase back while the first still measured (this module's tests, 1 run in 12).
    #[test]
    fn a_second_measurement_waits_for_the_first() {
        for _ in 0..20 {
            let claim = PhaseClaim::take();
            set_phase(Phase::Optimizer);
            let other = std::thread::spawn(|| measure_kernels(&Device::flex(), || ()));
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(current_phase(), Phase::Optimizer);
            assert_another_thread_cannot_mark();
            drop(claim);
            other.join().unwrap();
        }
    }

    use super::*;

    fn launch(name: &str, phase: Phase, seconds: Option<f64>) -> Launch {
        Launch {
            name: name.into(),
            phase,
            seconds,
        }
    }

    #[test]
    fn kinds_come_from_names_and_the_optimizer_from_its_phase() {
        let cases = [
            ("MatmulEntry<f32>", KernelKind::Gemm),
            (
                "mixtune::kernels::wgsl::AttentionKernel",
                KernelKind::Attention,
            ),
            ("ReduceKernel<Sum>", KernelKind::Reduction),
            (
                "SourceKernel<mixtune::kernels::wgsl::SquaresKernel>",
                KernelKind::Reduction,
            ),
            ("into_contiguous", KernelKind::Copy),
            ("ElemwiseFuse", KernelKind::Elementwise),
            (
                "SourceKernel<mixtune::kernels::wgsl::RmsNormKernel>",
                KernelKind::Elementwise,
            ),
            (
                "SourceKernel<mixtune::kernels::wgsl::GatedGeluKernel>",
                KernelKind::Elementwise,
            ),
            (
                "SourceKernel<mixtune::kernels::wgsl::DropoutKernel>",
                KernelKind::Elementwise,
            ),
            // Names as CubeCL 0.11 reports them on wgpu (lavapipe).
            (
                "MatmulEntry | FusedMatmulArgs | DynamicScalar | SimpleMatmulFamily",
                KernelKind::Gemm,
            ),
            ("ReduceKernelFused", KernelKind::Reduction),
            ("KernelBinop | MulOp", KernelKind::Elementwise),
            ("KernelScalarBinop | MulOp", KernelKind::Elementwise),
            ("FullKernel", KernelKind::Elementwise),
            ("CopyKernel", KernelKind::Copy),
            ("SelectKernel", KernelKind::Copy),
            ("SourceKernel | CoopMatmulKernel", KernelKind::Gemm),
            ("mystery", KernelKind::Other),
        ];
        for (name, kind) in cases {
            assert_eq!(KernelKind::of(name, Phase::Model), kind, "{name}");
        }
        assert_eq!(
            KernelKind::of("MatmulEntry<f32>", Phase::Optimizer),
            KernelKind::Optimizer
        );
    }

    #[test]
    fn a_profile_groups_launches_and_its_kinds_add_up() {
        let launches = vec![
            launch("MatmulEntry", Phase::Model, Some(0.004)),
            launch("ElemwiseFuse", Phase::Model, Some(0.001)),
            launch("MatmulEntry", Phase::Model, Some(0.002)),
            launch("ElemwiseFuse", Phase::Optimizer, Some(0.0005)),
            launch("ReduceKernel", Phase::Model, None),
        ];
        let profile = KernelProfile::from_launches(launches, Timing::Device, 1, 0.01);
        assert_eq!(profile.launches, 5);
        assert_eq!(profile.timed_launches, 4);
        assert_eq!(profile.timing, Timing::Device);
        assert_eq!(profile.kernels[0].name, "MatmulEntry");
        assert_eq!(profile.kernels[0].launches, 2);
        assert!((profile.kernels[0].seconds - 0.006).abs() < 1e-12);
        // The same name in two phases is two rows.
        assert_eq!(profile.kernels.len(), 4);
        let kinds = profile.by_kind();
        let total: f64 = kinds.iter().map(|k| k.seconds).sum();
        assert!((total - profile.kernel_seconds()).abs() < 1e-12);
        assert_eq!(kinds.iter().map(|k| k.launches).sum::<usize>(), 5);
        assert!((profile.seconds_of(KernelKind::Optimizer) - 0.0005).abs() < 1e-12);
        assert_eq!(profile.seconds_of(KernelKind::Attention), 0.0);
    }

    #[test]
    fn no_time_taken_reads_as_none() {
        let launches = vec![launch("MatmulEntry", Phase::Model, None)];
        let profile = KernelProfile::from_launches(launches, Timing::Device, 0, 0.01);
        assert_eq!(profile.timing, Timing::None);
    }

    #[test]
    fn the_cpu_has_no_kernel_profile() {
        let device = Device::flex();
        let (value, counts, profile) = measure_kernels(&device, || 7);
        assert_eq!(value, 7);
        assert_eq!(counts.launches, None);
        assert!(profile.is_none());
    }
}
