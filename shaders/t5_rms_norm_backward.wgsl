// The backward pass of t5_rms_norm_forward.wgsl, one row per workgroup. With n = x · inv and
// g = dy · w (all in f32):
//
//   dx[r, c]  = inv[r] · (g[r, c] - n[r, c] · mean_c' (g[r, c'] · n[r, c']))
//   dw_rows[r, c] = dy[r, c] · n[r, c]      (f32; the host sums it over rows: the weight's
//                                            gradient)
//
// Prepended: prelude.wgsl (param), workgroup_sum.wgsl, and `enable f16;` before them when io
// or wt is f16.
// Template values: workgroup_size (a power of two); io (x, dy and dx); wt (the weight).

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> x: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> w: array<{{ wt }}>;
@group(0) @binding(2) var<storage, read_write> inv_rms: array<f32>;
@group(0) @binding(3) var<storage, read_write> dy: array<{{ io }}>;
@group(0) @binding(4) var<storage, read_write> dx: array<{{ io }}>;
@group(0) @binding(5) var<storage, read_write> dw_rows: array<f32>;
// [d, unused, rows, 0].
@group(0) @binding(6) var<uniform> info: array<vec4<u32>, 1>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let d = param(0u);
    let rows = param(2u);
    let row = workgroup.y * workgroups.x + workgroup.x;
    if row >= rows {
        return;
    }
    let base = row * d;
    let inv = inv_rms[row];
    var sum = 0.0;
    for (var c = lane; c < d; c += WG) {
        let n = f32(x[base + c]) * inv;
        sum += f32(dy[base + c]) * f32(w[c]) * n;
    }
    let total = workgroup_sum(lane, sum);
    let mean_gn = total / f32(d);
    for (var c = lane; c < d; c += WG) {
        let n = f32(x[base + c]) * inv;
        let up = f32(dy[base + c]);
        dx[base + c] = {{ io }}(inv * (up * f32(w[c]) - n * mean_gn));
        dw_rows[base + c] = up * n;
    }
}
