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
    /// e.g. `cpu (flex)`, `gpu (wgpu: NVIDIA H100, Vulkan)`.
    pub label: String,
    pub is_gpu: bool,
}

/// The CPU device (always available).
pub fn cpu() -> SelectedDevice {
    SelectedDevice {
        device: Device::flex(),
        label: "cpu (flex)".into(),
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

/// Resolves a [`DeviceChoice`] to a device.
pub fn select(choice: DeviceChoice) -> Result<SelectedDevice> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Gpu => gpu_device(),
        DeviceChoice::Auto => Ok(gpu_device().unwrap_or_else(|_| cpu())),
    }
}

#[cfg(feature = "wgpu")]
fn gpu_device() -> Result<SelectedDevice> {
    gpu::device()
}

#[cfg(not(feature = "wgpu"))]
fn gpu_device() -> Result<SelectedDevice> {
    Err(MixtuneError::Device(
        "this build has no GPU support: rebuild with `--features wgpu`".into(),
    ))
}

#[cfg(feature = "wgpu")]
mod gpu {
    use super::*;
    use burn::tensor::{DeviceKind, Tensor};

    /// Adapters through Burn's physical-device listing.
    pub fn adapters() -> Vec<String> {
        Device::enumerate_physical()
            .into_iter()
            .map(|gpu| format!("{gpu:?}"))
            .collect()
    }

    /// The default wgpu device, checked with one tiny op (wgpu panics when no adapter exists,
    /// so the probe runs behind `catch_unwind`).
    pub fn device() -> Result<SelectedDevice> {
        let probe = std::panic::catch_unwind(|| {
            let device = Device::wgpu(DeviceKind::DefaultDevice);
            let sum: f32 = Tensor::<1>::ones([4], &device).sum().into_scalar();
            (device, sum)
        });
        match probe {
            Ok((device, sum)) if sum == 4.0 => {
                let name = adapters().into_iter().next().unwrap_or_else(|| "default adapter".into());
                Ok(SelectedDevice {
                    device,
                    label: format!("gpu (wgpu: {name})"),
                    is_gpu: true,
                })
            }
            Ok(_) => Err(MixtuneError::Device("wgpu probe computed a wrong result".into())),
            Err(_) => Err(MixtuneError::Device("no usable wgpu adapter (Vulkan/Metal/DX12) found".into())),
        }
    }
}
