// T5's dropout outside attention (the embeddings, each sub-layer's output, the feed-forward's
// activation, the final norms) without a stored mask, with the residual added where there is
// one:
//
//   out[i] = residual[i] + x[i] · factor(i)     (with_residual)
//   out[i] = x[i] · factor(i)
//
// factor(i) is attention_dropout.wgsl's draw for slice 0, row i, key 0: 0 where a hash of the
// call's seed and the element's index falls under the threshold, 1 / (1 − rate) elsewhere.
// The backward pass is this kernel on the output's gradient with the call's seed, without
// the residual, so it recomputes the forward's draws (src/kernels/attention_dropout.rs has the
// host's copy). Arithmetic in f32, rounded once to the element type.
//
// The dispatch is G workgroups striding over the elements. All buffers are contiguous, and
// `residual` is `x` itself without one.
//
// Prepended: prelude.wgsl (param), attention_dropout.wgsl (the draw), and `enable f16;`
// before them for f16. Template values: workgroup_size; io, the element type (f32 or f16).

const WG: u32 = {{ workgroup_size }}u;
// Where the draw's seed, threshold and scale sit in `info`.
const DROPOUT_AT: u32 = 4u;

@group(0) @binding(0) var<storage, read_write> x: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> residual: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{ io }}>;
// Elements, with_residual (0 or 1), unused, unused; seed, threshold, scale bits, unused.
@group(0) @binding(3) var<uniform> info: array<vec4<u32>, 2>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let n = param(0u);
    let with_residual = param(1u) != 0u;
    let stride = workgroups.x * WG;
    for (var i = workgroup.x * WG + lane; i < n; i += stride) {
        var value = f32(x[i]) * dropout_scale(dropout_row(0u, 0u, i), 0u);
        if with_residual {
            value += f32(residual[i]);
        }
        out[i] = {{ io }}(value);
    }
}
