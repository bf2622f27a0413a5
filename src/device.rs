//! Choosing where tensors live: a wgpu GPU (when built with `wgpu`) or Burn's `flex` CPU.

use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{MixtuneError, Result};

/// What the user asked for with `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when one is usable, else the CPU.
    #[default]
    Auto,
    /// A wgpu GPU, or an error saying why not.
    Gpu,
    /// Burn's `flex` CPU backend.
    Cpu,
}

impl FromStr for DeviceChoice {
    type Err = MixtuneError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(MixtuneError::Input(format!(
                "unknown device `{other}`: expected auto, gpu or cpu"
            ))),
        }
    }
}

/// A device and how it was described to the user.
#[derive(Debug, Clone)]
pub struct SelectedDevice {
    pub device: Device,
    /// What users read, e.g. `CPU`, `GPU: NVIDIA H100 (Vulkan)`.
    pub label: String,
    pub is_gpu: bool,
}

/// The CPU device (always available).
pub fn cpu() -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        label: "CPU".into(),
        is_gpu: false,
    }
}

/// GPU adapters wgpu can see, one line each (empty when built without `wgpu`).
pub fn gpu_adapters() -> Vec<String> {
    #[cfg(feature = "wgpu")]
    {
        gpu::adapters()
    }
    #[cfg(not(feature = "wgpu"))]
    {
        Vec::new()
    }
}

/// Resolves a [`DeviceChoice`] to a device. `auto` takes a hardware GPU only (a software
/// rasterizer such as lavapipe is slower than the CPU backend); `gpu` takes any wgpu adapter.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice> {
    let selected = match choice {
        DeviceChoice::Cpu => cpu(),
        DeviceChoice::Gpu => gpu_device(true)?,
        DeviceChoice::Auto => gpu_device(false).unwrap_or_else(|_| cpu()),
    };
    if !selected.is_gpu {
        // For embedders that did not pin it in `main`; a no-op where they did (the CLI and
        // the app), so no thread sets the environment while others read it.
        pin_default_device();
    }
    Ok(selected)
}

/// Makes the CPU Burn's default device unless `BURN_DEVICE` names one. Call it first in
/// `main`, before any thread starts: it sets an environment variable, which is only sound
/// while no other thread reads the environment (a GUI toolkit's threads do).
///
/// Burn loads a checkpoint's optimizer state onto its default device (`load_record` takes
/// none) and moves it to each parameter's device at the next step. In a GPU build the
/// default is the GPU, which would start the GPU stack for a CPU run; the CPU serves a GPU
/// run as well (the state crosses once), and on a machine with several adapters better than
/// a default GPU that may not be the run's.
pub fn pin_default_device() {
    if std::env::var_os("BURN_DEVICE").is_none() {
        std::env::set_var("BURN_DEVICE", "flex");
    }
}

#[cfg(feature = "wgpu")]
fn gpu_device(allow_software: bool) -> Result<SelectedDevice> {
    gpu::device(allow_software)
}

#[cfg(not(feature = "wgpu"))]
fn gpu_device(_allow_software: bool) -> Result<SelectedDevice> {
    Err(MixtuneError::Device(
        "this build has no GPU support: rebuild with `--features wgpu`".into(),
    ))
}

#[cfg(feature = "wgpu")]
mod gpu {
    use super::*;
    use burn::cubecl::wgpu::{WgpuBackend, WgpuDevice};
    use burn::tensor::{DeviceIdentity, Tensor};

    /// Adapters through Burn's physical-device listing (hardware GPUs only).
    pub fn adapters() -> Vec<String> {
        quietly(Device::enumerate_physical)
            .unwrap_or_default()
            .into_iter()
            .map(|gpu| format!("{} ({} device(s))", gpu.name, gpu.devices.into_vec().len()))
            .collect()
    }

    /// Runs `f` with panics caught and their messages kept off the terminal: wgpu panics when
    /// no adapter exists.
    fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let result = std::panic::catch_unwind(f);
        std::panic::set_hook(hook);
        result.ok()
    }

    /// CubeCL's settings, once per process before the first GPU op: its own `cubecl.toml` and
    /// `CUBECL_*` variables still apply (e.g. `CUBECL_AUTOTUNE_LEVEL=minimal`), but the
    /// autotune cache lives in [`super::kernel_cache_dir`] rather than in whatever source tree the
    /// binary runs from.
    fn configure_cubecl() {
        use burn::cubecl::config::cache::CacheConfig;
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
            config.environment.path = CacheConfig::Directory(super::kernel_cache_dir());
            // Compiled kernels persist too where CubeCL can store them: the SPIR-V runtime (the
            // `vulkan` feature) keeps every module it built in the same folder, so a second
            // run skips CubeCL's compiler. (WGSL goes to the driver as text: nothing to keep.)
            #[cfg(feature = "gpu-cache")]
            {
                config.compilation.cache = true;
            }
            // False when CubeCL was configured already (e.g. by an embedding program).
            let _ = CubeClRuntimeConfig::try_set(config);
        });
    }

    /// Burn's fusion search at one block of operations at a time (`max_blocks = 1`, where
    /// Burn's default is 5), once per process before the first GPU op.
    ///
    /// With several blocks, the search can merge ops out of stream order; Burn then checks
    /// the plan, finds it invalid and runs the whole segment unfused ("[repair] falling back
    /// to unfused stream order" in `BURN_FUSION_LOG=medium`), and caches that: whole optimizer
    /// updates and feed-forward layers ran as a kernel per op, every step. On lavapipe an f16
    /// training step of a two-layer model launched 482 lone element-wise kernels at 5 and 16
    /// at 1 (3, 4, 6 and 8 blocks: 21, 19, 132, 176); Flan-T5-small's f16 step 1017 → 929
    /// launches, its f32 step 890 → 886, a decode step 134.8 either way (README, "What makes
    /// it fast"). A `max_blocks` other than 5 in a `burn.toml` (found as Burn finds it) is
    /// kept; `MIXTUNE_FUSION_MAX_BLOCKS=N` sets N, for A/B runs.
    fn configure_fusion() {
        use burn_std::config::{BurnConfig, RuntimeConfig};
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let config = BurnConfig::from_current_dir().override_from_env();
            let Ok(mut value) = serde_json::to_value(&config) else {
                return;
            };
            let Some(max_blocks) = value.pointer_mut("/fusion/beam_search/max_blocks") else {
                return;
            };
            let asked = std::env::var("MIXTUNE_FUSION_MAX_BLOCKS")
                .ok()
                .and_then(|n| n.trim().parse::<u64>().ok())
                .filter(|&n| n > 0);
            match asked {
                Some(n) => *max_blocks = n.into(),
                None if max_blocks.as_u64() == Some(BURN_MAX_BLOCKS) => *max_blocks = 1.into(),
                None => return, // set in a burn.toml
            }
            if let Ok(config) = serde_json::from_value::<BurnConfig>(value) {
                // False when Burn was configured already (e.g. by an embedding program).
                let _ = BurnConfig::try_set(config);
            }
        });
    }

    /// Burn 0.22.1's default `max_blocks` (see [`configure_fusion`]).
    const BURN_MAX_BLOCKS: u64 = 5;

    /// Whether CubeCL compiles for `device` to SPIR-V (the `vulkan` feature on a Vulkan
    /// adapter) rather than WGSL.
    fn compiles_spirv(device: &Device) -> bool {
        super::cube_runtime(device).is_some_and(|name| name.ends_with("<spirv>"))
    }

    /// Refuses a SPIR-V device whose adapter lacks the extension CubeCL's SPIR-V compiler
    /// needs for valid shared memory (see [`super::spirv_check`]): without it the first
    /// reduction crashes the driver, so the error has to come before any kernel runs.
    #[cfg(feature = "vulkan")]
    fn refuse_invalid_spirv(device: &Device, name: &str) -> Result<()> {
        if compiles_spirv(device) && super::spirv_check::lacks_explicit_layout(name) == Some(true) {
            return Err(MixtuneError::Device(format!(
                "{name} lacks the Vulkan extension VK_KHR_workgroup_memory_explicit_layout, \
                 without which this build's SPIR-V compiler (CubeCL 0.11.3) makes kernels the \
                 driver cannot run; use the standard GPU build (without the `vulkan` feature) \
                 or --device cpu"
            )));
        }
        Ok(())
    }

    /// The graphics APIs Mixtune computes through, best first: CubeCL's own order for a
    /// device on no pinned API (`AutoGraphicsApi::chain`), less OpenGL.
    ///
    /// wgpu's OpenGL backend is not one: CubeCL's poll thread and the GL context's lock
    /// deadlock there. On a Linux machine with no Vulkan driver installed, where CubeCL falls
    /// back to OpenGL (Mesa's llvmpipe), a training step ran but the first greedy generation
    /// panicked in wgpu-hal ("Could not lock adapter context. This is most-likely a
    /// deadlock.") and the process hung. Such a machine gets the CPU (`auto`) or an error
    /// that says to install the Vulkan driver (`gpu`).
    fn graphics_apis() -> &'static [WgpuBackend] {
        if cfg!(target_os = "macos") {
            &[WgpuBackend::Metal]
        } else {
            &[WgpuBackend::Vulkan, WgpuBackend::Dx12]
        }
    }

    /// The default adapter on `api`, checked with one tiny op, with its identity; `None`
    /// when the API has no adapter here (wgpu panics then) or the op fails.
    fn probe(api: WgpuBackend) -> Option<Result<(Device, Option<DeviceIdentity>)>> {
        quietly(|| {
            let device = Device::new(WgpuDevice::default().on(api));
            let identity = device.identity();
            #[cfg(feature = "vulkan")]
            if let Some(name) = identity.as_ref().map(|i| i.name.as_str()) {
                refuse_invalid_spirv(&device, name)?;
            }
            let sum: f32 = Tensor::<1>::ones([4], &device).sum().into_scalar();
            if sum != 4.0 {
                return Err(MixtuneError::Device(
                    "the wgpu probe computed a wrong result".into(),
                ));
            }
            Ok((device, identity))
        })
    }

    /// Whether a card stands behind the device (not a software rasterizer such as lavapipe).
    fn is_hardware(identity: &Option<DeviceIdentity>) -> bool {
        identity.as_ref().is_some_and(|i| i.physical.is_some())
    }

    /// The default adapter of the first of [`graphics_apis`] that has a hardware one, else
    /// of the first that has any (a software rasterizer such as lavapipe), as CubeCL settles
    /// a device on no pinned API.
    fn first_adapter() -> Result<(Device, Option<DeviceIdentity>)> {
        let mut software = None;
        for &api in graphics_apis() {
            match probe(api) {
                None => continue,
                Some(Err(refused)) => return Err(refused),
                Some(Ok((device, identity))) => {
                    if is_hardware(&identity) {
                        return Ok((device, identity));
                    }
                    software.get_or_insert((device, identity));
                }
            }
        }
        software.ok_or_else(|| {
            MixtuneError::Device(
                "no usable wgpu adapter on Vulkan, Metal or DX12 found (Mixtune does not \
                 compute through OpenGL); on Linux, install your GPU's Vulkan driver (Mesa: \
                 the mesa-vulkan-drivers package) or use --device cpu"
                    .into(),
            )
        })
    }

    /// The wgpu device to compute on ([`first_adapter`]), described for users.
    pub fn device(allow_software: bool) -> Result<SelectedDevice> {
        configure_cubecl();
        configure_fusion();
        let (device, identity) = first_adapter()?;
        let name = identity
            .as_ref()
            .map_or("unnamed adapter".to_string(), |i| i.name.clone());
        let hardware = is_hardware(&identity);
        if !hardware && !allow_software {
            return Err(MixtuneError::Device(format!(
                "only a software adapter ({name}) found"
            )));
        }
        let kind = if hardware { "" } else { " (software)" };
        // Which compiler makes the GPU's figures: WGSL, the default build's only one, or
        // SPIR-V.
        let compiler = if compiles_spirv(&device) {
            " [SPIR-V]"
        } else {
            ""
        };
        // Whether f16 products can run on the tensor cores (`kernels::matmul`; its self-check
        // comes at the first f16 product, and says so on stderr if it fails).
        let coop = match crate::kernels::coop_capable(&device) {
            Some(shape) if crate::kernels::coop_matmul_enabled() => {
                format!(" [f16 on {0}×{0} cooperative matrices]", shape.tile)
            }
            _ => String::new(),
        };
        Ok(SelectedDevice {
            device,
            label: format!("GPU: {name}{kind}{compiler}{coop}"),
            is_gpu: true,
        })
    }
}

pub mod kernel_shapes;
pub mod live_memory;
pub mod profile;
#[cfg(feature = "vulkan")]
pub mod spirv_check;

/// Where compiled and tuned kernels are kept between runs (with the `gpu-cache` feature):
/// `$MIXTUNE_KERNEL_CACHE`, else `$XDG_CACHE_HOME/mixtune/kernels`, else
/// `~/.cache/mixtune/kernels`.
pub fn kernel_cache_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("MIXTUNE_KERNEL_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("mixtune").join("kernels")
}

/// The CubeCL runtime computing `device`'s tensors, by the name CubeCL gives it
/// (`wgpu<wgsl>`, or with the `vulkan` feature `wgpu<spirv>` on a Vulkan adapter); `None`
/// on the CPU (flex) and in builds without `wgpu`.
pub fn cube_runtime(device: &Device) -> Option<&'static str> {
    #[cfg(feature = "wgpu")]
    if let burn::backend::DispatchDevice::Cube(cube) = device.clone().inner().as_dispatch() {
        return Some(cube.client().name());
    }
    let _ = device;
    None
}

/// How many blocks of ops Burn's fusion searches at once in this process (see
/// `gpu::configure_fusion`; Mixtune sets 1, Burn's default is 5), for profiles to say; `None`
/// in a build without `wgpu`. Call it once a GPU device is selected: reading Burn's config
/// first would fix Burn's default.
pub fn fusion_max_blocks() -> Option<usize> {
    #[cfg(feature = "wgpu")]
    return Some(burn_std::config::config().fusion().beam_search.max_blocks);
    #[cfg(not(feature = "wgpu"))]
    None
}

/// Whether `device` is Burn's `flex` CPU backend (read, as [`describe`], from its `Debug` text).
pub fn is_cpu(device: &Device) -> bool {
    format!("{device:?}").contains("Flex")
}

/// A short name for a device (`CPU`, `GPU`), for logs and the app. Burn's
/// `Device` offers only its `Debug` text, so this reads the backend name from it.
pub fn describe(device: &Device) -> String {
    let text = format!("{device:?}");
    if is_cpu(device) {
        "CPU".into()
    } else if text.contains("Wgpu") || text.contains("Vulkan") || text.contains("WebGpu") {
        "GPU".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_run_pins_burns_default_device_to_the_cpu() {
        // Checkpoints load optimizer state onto Burn's default device: a CPU run must not
        // start the GPU stack through it (a GPU build would otherwise pick wgpu).
        let selected = select(DeviceChoice::Cpu).unwrap();
        assert!(!selected.is_gpu);
        assert_eq!(std::env::var("BURN_DEVICE").as_deref(), Ok("flex"));
        assert_eq!(Device::default(), Device::flex());
    }
}
