// Matrices side by side: packed[r, k · cols + c] = block_k[r, c] for the k < blocks (2 or 3)
// `[rows, cols]` inputs, converted to the packed matrix's element type. The weights of packed
// projections (`[W_q | W_k | W_v]`, `[W_k | W_v]`) in one launch, cast once (f32 master
// weights to f16 under mixed precision), where a concatenation takes a launch per block and
// the cast one more.
//
// The dispatch is G × blocks workgroups: workgroup (g, k) copies rows g, g + G, … of block k,
// its threads the columns (no division per element), so the switch on k is uniform across a
// workgroup. Inputs are contiguous; a block past the real ones is never read (its binding
// repeats the first).
//
// Prepended: prelude.wgsl (param), and `enable f16;` before it for f16.
// Template values: workgroup_size; wt, the inputs' element type; io, the output's.

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> b0: array<{{ wt }}>;
@group(0) @binding(1) var<storage, read_write> b1: array<{{ wt }}>;
@group(0) @binding(2) var<storage, read_write> b2: array<{{ wt }}>;
@group(0) @binding(3) var<storage, read_write> packed: array<{{ io }}>;
// rows, cols, blocks, unused.
@group(0) @binding(4) var<uniform> info: array<vec4<u32>, 1>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let rows = param(0u);
    let cols = param(1u);
    let width = param(2u) * cols;
    let k = workgroup.y;
    let offset = k * cols;
    switch k {
        case 0u: { for (var r = workgroup.x; r < rows; r += workgroups.x) { for (var c = lane; c < cols; c += WG) { packed[r * width + offset + c] = {{ io }}(b0[r * cols + c]); } } }
        case 1u: { for (var r = workgroup.x; r < rows; r += workgroups.x) { for (var c = lane; c < cols; c += WG) { packed[r * width + offset + c] = {{ io }}(b1[r * cols + c]); } } }
        default: { for (var r = workgroup.x; r < rows; r += workgroups.x) { for (var c = lane; c < cols; c += WG) { packed[r * width + offset + c] = {{ io }}(b2[r * cols + c]); } } }
    }
}
