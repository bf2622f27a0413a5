// Prepended to the row-reducing kernels (sum_of_squares, t5_rms_norm_*; src/kernels/wgsl.rs):
// the sum of one f32 over a workgroup of WG threads (WG, a power of two, is the kernel's).
// Every thread of the workgroup must call it, from uniform control flow; all get the sum.

var<workgroup> scratch: array<f32, WG>;

fn workgroup_sum(lane: u32, value: f32) -> f32 {
    scratch[lane] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            scratch[lane] += scratch[lane + stride];
        }
        workgroupBarrier();
    }
    let sum = scratch[0];
    // No thread may overwrite scratch (a next call) before every thread has read the sum.
    workgroupBarrier();
    return sum;
}
