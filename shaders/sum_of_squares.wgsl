// The sum of squares of up to seven f32 (or seven f16) tensors in one dispatch (the global
// gradient norm of `train::trainer`: one launch per seven gradients instead of several per
// gradient). Elements are squared and summed in f32 (an f16 square overflows from 256 up).
//
//   partials[t · G + g] = sum over i ≡ g·WG + lane (mod G·WG), i < len(t), of tensor_t[i]²
//
// The dispatch is G × 7 workgroups, G chosen by the host from the longest tensor (so a
// dispatch of small tensors is a few workgroups). Workgroup (g, t) walks tensor t with a
// stride of G·WG and reduces its threads' sums in shared memory; the host sums the 7 · G
// partials. Each tensor is read as rows of `cols` elements `row_stride` apart (a column block
// of a wider matrix, as the gradients of packed projections' weights are: no copy first);
// a dense one is one row (the order of elements does not matter to a sum). A slot past the
// real tensors gets length 0 (its binding repeats the first tensor) and writes 0.
//
// Prepended: prelude.wgsl (param), workgroup_sum.wgsl.
// Template values: workgroup_size (a power of two); io, the tensors' element type (f32 or
// f16). The partial sums are f32.

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> t0: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> t1: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> t2: array<{{ io }}>;
@group(0) @binding(3) var<storage, read_write> t3: array<{{ io }}>;
@group(0) @binding(4) var<storage, read_write> t4: array<{{ io }}>;
@group(0) @binding(5) var<storage, read_write> t5: array<{{ io }}>;
@group(0) @binding(6) var<storage, read_write> t6: array<{{ io }}>;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;
// The element counts of t0..t6 and one unused u32, then their row widths (`cols`) and one
// unused, then their row strides (0: dense) and one unused.
@group(0) @binding(8) var<uniform> info: array<vec4<u32>, 6>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let g = workgroup.x;
    let t = workgroup.y;
    let G = workgroups.x;
    let len = param(t);
    let start = g * WG + lane;
    let stride = G * WG;
    // WGSL cannot index bindings, so one loop per binding; `t` is the same across the
    // workgroup, so the switch is taken once, outside the loop (a switch per element ran
    // about 7x slower on lavapipe, which evaluates every case under a mask). A dense tensor
    // is walked flat; rows spaced apart are walked row by row (workgroup g takes rows
    // g, g + G, …, its threads the columns), with no division per element.
    var sum = 0.0;
    let spaced = param(16u + t);
    if spaced == 0u {
        switch t {
            case 0u: { for (var i = start; i < len; i += stride) { let x = f32(t0[i]); sum += x * x; } }
            case 1u: { for (var i = start; i < len; i += stride) { let x = f32(t1[i]); sum += x * x; } }
            case 2u: { for (var i = start; i < len; i += stride) { let x = f32(t2[i]); sum += x * x; } }
            case 3u: { for (var i = start; i < len; i += stride) { let x = f32(t3[i]); sum += x * x; } }
            case 4u: { for (var i = start; i < len; i += stride) { let x = f32(t4[i]); sum += x * x; } }
            case 5u: { for (var i = start; i < len; i += stride) { let x = f32(t5[i]); sum += x * x; } }
            default: { for (var i = start; i < len; i += stride) { let x = f32(t6[i]); sum += x * x; } }
        }
    } else {
        let cols = param(8u + t);
        let rows = len / cols;
        switch t {
            case 0u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t0[r * spaced + c]); sum += x * x; } } }
            case 1u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t1[r * spaced + c]); sum += x * x; } } }
            case 2u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t2[r * spaced + c]); sum += x * x; } } }
            case 3u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t3[r * spaced + c]); sum += x * x; } } }
            case 4u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t4[r * spaced + c]); sum += x * x; } } }
            case 5u: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t5[r * spaced + c]); sum += x * x; } } }
            default: { for (var r = g; r < rows; r += G) { for (var c = lane; c < cols; c += WG) { let x = f32(t6[r * spaced + c]); sum += x * x; } } }
        }
    }
    let total = workgroup_sum(lane, sum);
    if lane == 0u {
        partials[t * G + g] = total;
    }
}
