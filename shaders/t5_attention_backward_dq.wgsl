// T5 attention backward, part 1: the score gradient and the query gradient.
//
// With P = softmax(S), S = query · keysᵀ + bias (no scale), dO = grad_output and the row
// statistics stats[b, h, i] = (lse_i, delta_i = sum_c dO[i, c] · output[i, c]):
//
//   P[i, j]       = exp(S[i, j] - lse_i)
//   dS[i, j]      = P[i, j] · (dO[i, :] · values[j, :] - delta_i)     -> d_scores (= d_bias, unreduced)
//   d_query[i, :] = sum_j dS[i, j] · keys[j, :]
//
// One thread per query row, ROWS rows per workgroup; keys and values are staged COLS at a
// time in shared memory. `d_scores` [B, H, M, N] is written for the bias gradient and read
// again by t5_attention_backward_dkv.wgsl. Inputs are read through their strides (a broadcast
// dim of `bias` has stride 0); `stats` [B, H, M, 2], `d_query` [B, H, M, D] and `d_scores`
// are contiguous.
//
// Template values: d (head size), rows (threads per workgroup), cols (keys per tile).

const D: u32 = {{ d }}u;
const ROWS: u32 = {{ rows }}u;
const COLS: u32 = {{ cols }}u;

// Every buffer is declared read_write, inputs too: CubeCL suballocates tensors from shared
// pages, so an input and an output can sit in one wgpu buffer, and wgpu rejects a buffer
// bound both read-only and read-write in one dispatch.
@group(0) @binding(0) var<storage, read_write> query: array<f32>;
@group(0) @binding(1) var<storage, read_write> keys: array<f32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_output: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_query: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_scores: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias,
// grad_output.
@group(0) @binding(8) var<uniform> info: array<vec4<u32>, 6>;

var<workgroup> k_tile: array<f32, COLS * D>;
var<workgroup> v_tile: array<f32, COLS * D>;

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
    let row = workgroup.x * ROWS + t;
    let valid_row = row < q_len;

    let q_base = b * param(4u) + h * param(5u) + row * param(6u);
    let q_col = param(7u);
    let k_base = b * param(8u) + h * param(9u);
    let k_row = param(10u);
    let k_col = param(11u);
    let v_base = b * param(12u) + h * param(13u);
    let v_row = param(14u);
    let v_col = param(15u);
    let bias_base = b * param(16u) + h * param(17u) + row * param(18u);
    let bias_col = param(19u);
    let g_base = b * param(20u) + h * param(21u) + row * param(22u);
    let g_col = param(23u);

    var q: array<f32, D>;
    var g: array<f32, D>;
    var dq: array<f32, D>;
    var lse_row = 0.0;
    var delta_row = 0.0;
    for (var c = 0u; c < D; c++) {
        q[c] = 0.0;
        g[c] = 0.0;
        dq[c] = 0.0;
        if valid_row {
            q[c] = query[q_base + c * q_col];
            g[c] = grad_output[g_base + c * g_col];
        }
    }
    if valid_row {
        lse_row = stats[(bh * q_len + row) * 2u];
        delta_row = stats[(bh * q_len + row) * 2u + 1u];
    }
    let ds_base = (bh * q_len + row) * k_len;

    for (var start = 0u; start < k_len; start += COLS) {
        for (var e = t; e < COLS * D; e += ROWS) {
            let j = start + e / D;
            let c = e % D;
            var kv = 0.0;
            var vv = 0.0;
            if j < k_len {
                kv = keys[k_base + j * k_row + c * k_col];
                vv = values[v_base + j * v_row + c * v_col];
            }
            k_tile[e] = kv;
            v_tile[e] = vv;
        }
        workgroupBarrier();

        if valid_row {
            for (var jj = 0u; jj < COLS; jj++) {
                let j = start + jj;
                if j < k_len {
                    var qk = 0.0;
                    var gv = 0.0;
                    for (var c = 0u; c < D; c++) {
                        qk += q[c] * k_tile[jj * D + c];
                        gv += g[c] * v_tile[jj * D + c];
                    }
                    let p = exp(qk + bias[bias_base + j * bias_col] - lse_row);
                    let ds = p * (gv - delta_row);
                    d_scores[ds_base + j] = ds;
                    for (var c = 0u; c < D; c++) {
                        dq[c] += ds * k_tile[jj * D + c];
                    }
                }
            }
        }
        workgroupBarrier();
    }

    if valid_row {
        let out_base = (bh * q_len + row) * D;
        for (var c = 0u; c < D; c++) {
            d_query[out_base + c] = dq[c];
        }
    }
}
