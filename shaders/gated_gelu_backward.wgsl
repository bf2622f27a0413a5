// The backward pass of Flan-T5's gated activation over one packed product:
//
//   both = x · [W_0 | W_1]        [rows, 2F]: gate = both[:, :F], up = both[:, F:]
//   out  = gelu_new(gate) · up    [rows, F]
//   d_both[r, j]     = dy[r, j] · up[r, j] · gelu_new'(gate[r, j])
//   d_both[r, F + j] = dy[r, j] · gelu_new(gate[r, j])
//
// with gelu_new(x) = ½x(1 + t), t = tanh(√(2/π)(x + 0.044715x³)) and
// gelu_new'(x) = ½(1 + t) + ½x(1 − t²)√(2/π)(1 + 3·0.044715x²), in f32 whatever the element
// type, each result rounded once. The packed gradient is what the product's backward takes
// whole (one GEMM for x's gradient, one for the packed weight's), where separate gate and up
// products took two of each and an addition.
//
// The dispatch is G workgroups: workgroup g takes rows g, g + G, …, its threads the columns
// (no division per element). All three buffers are contiguous.
//
// Prepended: prelude.wgsl (param), and `enable f16;` before it for f16.
// Template values: workgroup_size; io, the element type (f32 or f16).

const WG: u32 = {{ workgroup_size }}u;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const CUBIC: f32 = 0.044715;

@group(0) @binding(0) var<storage, read_write> both: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> grad: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> d_both: array<{{ io }}>;
// rows, F (the width of gate and up), unused, unused.
@group(0) @binding(3) var<uniform> info: array<vec4<u32>, 1>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let rows = param(0u);
    let f = param(1u);
    for (var r = workgroup.x; r < rows; r += workgroups.x) {
        let at = r * 2u * f;
        for (var c = lane; c < f; c += WG) {
            let x = f32(both[at + c]);
            let up = f32(both[at + f + c]);
            let dy = f32(grad[r * f + c]);
            // tanh saturates to ±1 in f32 long before ±15; the clamp keeps an exp-based
            // tanh from inf / inf.
            let t = tanh(clamp(SQRT_2_OVER_PI * (x + CUBIC * x * x * x), -15.0, 15.0));
            let half_one_plus_t = 0.5 * (1.0 + t);
            let slope = 0.5 * SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
            let derivative = half_one_plus_t + x * (1.0 - t * t) * slope;
            d_both[at + c] = {{ io }}(dy * up * derivative);
            d_both[at + f + c] = {{ io }}(dy * x * half_one_plus_t);
        }
    }
}
