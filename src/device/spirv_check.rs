//! Whether a Vulkan adapter can run the SPIR-V build (the `vulkan` feature) at all.
//!
//! CubeCL 0.11.3's SPIR-V compiler declares workgroup (shared) memory in two ways. With
//! `VK_KHR_workgroup_memory_explicit_layout` (NVIDIA, AMD and Intel drivers have it) the
//! module is valid. Without it (`lower_shared_implicit` in cubecl-spirv), the variable is
//! given the pointer's type and the pointer the array's, so every kernel with shared memory
//! (reductions, matmuls) is an invalid module: the Vulkan validation layer reports
//! "OpInBoundsAccessChain reached non-composite type", and Mesa's lavapipe (22.3 and 25.0)
//! crashes the process building the first one. [`lacks_explicit_layout`] asks the Vulkan
//! loader before any kernel runs, so such an adapter gets a clear error instead.
//!
//! Written against `ash` (already in the build through wgpu) because neither wgpu nor Burn
//! exposes a device's extension list.

use std::ffi::CStr;

use ash::vk;

/// The extension CubeCL's SPIR-V compiler needs for valid shared memory.
const EXPLICIT_LAYOUT: &CStr = c"VK_KHR_workgroup_memory_explicit_layout";

/// `Some(true)` when the Vulkan device named `adapter` (as wgpu names it) lacks
/// [`EXPLICIT_LAYOUT`], `Some(false)` when it has it, `None` when the loader or the device
/// cannot be found (the caller then goes on, as before this check).
pub fn lacks_explicit_layout(adapter: &str) -> Option<bool> {
    // SAFETY: the loader is used only inside this function; every handle created here is
    // destroyed before returning, and every call gets handles of this instance.
    unsafe {
        let entry = ash::Entry::load().ok()?;
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
        let info = vk::InstanceCreateInfo::default().application_info(&app);
        let instance = entry.create_instance(&info, None).ok()?;
        let found = instance
            .enumerate_physical_devices()
            .unwrap_or_default()
            .into_iter()
            .find(|&device| {
                let properties = instance.get_physical_device_properties(device);
                properties
                    .device_name_as_c_str()
                    .is_ok_and(|name| name.to_string_lossy() == adapter)
            })
            .map(|device| {
                instance
                    .enumerate_device_extension_properties(device)
                    .unwrap_or_default()
                    .iter()
                    .any(|extension| extension.extension_name_as_c_str() == Ok(EXPLICIT_LAYOUT))
            });
        instance.destroy_instance(None);
        found.map(|has| !has)
    }
}
