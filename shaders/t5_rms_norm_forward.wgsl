// T5's layer norm (an RMS norm: no mean subtracted, no bias), one row of x [rows, d] per
// workgroup:
//
//   inv[r] = 1 / sqrt(mean_c x[r, c]² + eps)        (kept for the backward pass)
//   y[r, c] = io(x[r, c] · inv[r]) · io(w[c])
//
// The statistics and the normalisation in f32 whatever io is (as HF's T5LayerNorm); the
// scale by the weight in io, as the tensor-op reference does it.
//
// Prepended: prelude.wgsl (param), workgroup_sum.wgsl, and `enable f16;` before them when io
// or wt is f16.
// Template values: workgroup_size (a power of two); io, the element type of x and y; wt, the
// weight's (f32 master weights in training, f16 in an f16 model's inference).

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> x: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> w: array<{{ wt }}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{ io }}>;
@group(0) @binding(3) var<storage, read_write> inv_rms: array<f32>;
// [d, eps as f32 bits, rows, 0].
@group(0) @binding(4) var<uniform> info: array<vec4<u32>, 1>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let d = param(0u);
    let eps = bitcast<f32>(param(1u));
    let rows = param(2u);
    // Rows past 65535 go on in y (the workgroup count per dimension is limited).
    let row = workgroup.y * workgroups.x + workgroup.x;
    if row >= rows {
        return;
    }
    let base = row * d;
    var sum = 0.0;
    for (var c = lane; c < d; c += WG) {
        let v = f32(x[base + c]);
        sum += v * v;
    }
    let total = workgroup_sum(lane, sum);
    let inv = 1.0 / sqrt(total / f32(d) + eps);
    if lane == 0u {
        inv_rms[row] = inv;
    }
    for (var c = lane; c < d; c += WG) {
        y[base + c] = {{ io }}(f32(x[base + c]) * inv) * {{ io }}(w[c]);
    }
}
