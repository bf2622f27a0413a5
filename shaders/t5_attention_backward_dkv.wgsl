// T5 attention backward, part 2: the key and value gradients.
//
// With S = query · keysᵀ + bias (no scale), P[i, j] = exp(S[i, j] - lse_i), dO = grad_output
// and dS the score gradient written by t5_attention_backward_dq.wgsl:
//
//   d_keys[j, :]   = sum_i dS[i, j] · query[i, :]
//   d_values[j, :] = sum_i P[i, j] · dO[i, :]
//
// One thread per key row, ROWS keys per workgroup; queries and output gradients are staged
// COLS rows at a time in shared memory, P is recomputed from the saved lse. Inputs are read
// through their strides (a broadcast dim of `bias` has stride 0); `stats` [B, H, M, 2]
// (lse, delta), `d_scores` [B, H, M, N], `d_keys` and `d_values` [B, H, N, D] are contiguous.
//
// Template values: d (head size), rows (threads per workgroup), cols (query rows per tile).

const D: u32 = {{ d }}u;
const ROWS: u32 = {{ rows }}u;
const COLS: u32 = {{ cols }}u;

// Every buffer is declared read_write, inputs too: CubeCL suballocates tensors from shared
// pages, so an input and an output can sit in one wgpu buffer, and wgpu rejects a buffer
// bound both read-only and read-write in one dispatch.
@group(0) @binding(0) var<storage, read_write> query: array<f32>;
@group(0) @binding(1) var<storage, read_write> keys: array<f32>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_output: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_keys: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_values: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, bias,
// grad_output.
@group(0) @binding(8) var<uniform> info: array<vec4<u32>, 5>;

var<workgroup> q_tile: array<f32, COLS * D>;
var<workgroup> g_tile: array<f32, COLS * D>;

fn param(i: u32) -> u32 {
    return info[i / 4u][i % 4u];
}

@compute @workgroup_size(ROWS)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let heads = param(0u);
    let q_len = param(1u);
    let k_len = param(2u);
    let bh = workgroup.y;
    let b = bh / heads;
    let h = bh % heads;
    let key = workgroup.x * ROWS + t;
    let valid_key = key < k_len;

    let q_base = b * param(4u) + h * param(5u);
    let q_row = param(6u);
    let q_col = param(7u);
    let k_base = b * param(8u) + h * param(9u) + key * param(10u);
    let k_col = param(11u);
    let bias_base = b * param(12u) + h * param(13u) + key * param(15u);
    let bias_row = param(14u);
    let g_base = b * param(16u) + h * param(17u);
    let g_row = param(18u);
    let g_col = param(19u);

    var k: array<f32, D>;
    var dk: array<f32, D>;
    var dv: array<f32, D>;
    for (var c = 0u; c < D; c++) {
        k[c] = 0.0;
        dk[c] = 0.0;
        dv[c] = 0.0;
        if valid_key {
            k[c] = keys[k_base + c * k_col];
        }
    }

    for (var start = 0u; start < q_len; start += COLS) {
        for (var e = t; e < COLS * D; e += ROWS) {
            let i = start + e / D;
            let c = e % D;
            var qv = 0.0;
            var gv = 0.0;
            if i < q_len {
                qv = query[q_base + i * q_row + c * q_col];
                gv = grad_output[g_base + i * g_row + c * g_col];
            }
            q_tile[e] = qv;
            g_tile[e] = gv;
        }
        workgroupBarrier();

        if valid_key {
            for (var ii = 0u; ii < COLS; ii++) {
                let i = start + ii;
                if i < q_len {
                    var qk = 0.0;
                    for (var c = 0u; c < D; c++) {
                        qk += q_tile[ii * D + c] * k[c];
                    }
                    let lse_row = stats[(bh * q_len + i) * 2u];
                    let p = exp(qk + bias[bias_base + i * bias_row] - lse_row);
                    let ds = d_scores[(bh * q_len + i) * k_len + key];
                    for (var c = 0u; c < D; c++) {
                        dv[c] += p * g_tile[ii * D + c];
                        dk[c] += ds * q_tile[ii * D + c];
                    }
                }
            }
        }
        workgroupBarrier();
    }

    if valid_key {
        let out_base = (bh * k_len + key) * D;
        for (var c = 0u; c < D; c++) {
            d_keys[out_base + c] = dk[c];
            d_values[out_base + c] = dv[c];
        }
    }
}
