// T5 attention forward for training: every query row of a sequence at once.
//
//   output[b, h, i, :] = softmax_j(query[b, h, i, :] · keys[b, h, j, :] + bias[b, h, i, j]) · values[b, h, j, :]
//   lse[b, h, i]       = log(sum_j exp(score[i, j]))   (kept for the backward pass)
//
// No 1/sqrt(d) scale (T5). One thread per query row, ROWS rows per workgroup, one workgroup
// row-block per (block, batch·head). The workgroup stages COLS keys and values at a time in
// shared memory; each thread scores them against its query (held in registers), then folds
// them into its running max, exp-sum and output row (online softmax), so the [q_len, k_len]
// score matrix is never stored.
//
// Inputs are read through their strides (a broadcast dim of `bias` has stride 0); `output`
// [B, H, M, D] and `lse` [B, H, M] are contiguous. Masked keys carry a large negative bias
// (f32::MIN) and get weight 0.
//
// Template values: d (head size), rows (threads per workgroup), cols (keys per tile).

const D: u32 = {{ d }}u;
const ROWS: u32 = {{ rows }}u;
const COLS: u32 = {{ cols }}u;
const MIN_F32: f32 = -3.40282346638528859812e+38f;

// Every buffer is declared read_write, inputs too: CubeCL suballocates tensors from shared
// pages, so an input and an output can sit in one wgpu buffer, and wgpu rejects a buffer
// bound both read-only and read-write in one dispatch.
@group(0) @binding(0) var<storage, read_write> query: array<f32>;
@group(0) @binding(1) var<storage, read_write> keys: array<f32>;
@group(0) @binding(2) var<storage, read_write> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias.
@group(0) @binding(6) var<uniform> info: array<vec4<u32>, 5>;

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

    var q: array<f32, D>;
    var acc: array<f32, D>;
    var scores: array<f32, COLS>;
    for (var c = 0u; c < D; c++) {
        acc[c] = 0.0;
        q[c] = 0.0;
        if valid_row {
            q[c] = query[q_base + c * q_col];
        }
    }
    var m_run = MIN_F32;
    var l_run = 0.0;

    for (var start = 0u; start < k_len; start += COLS) {
        // Stage keys and values [start, start + COLS) (zeros past the end).
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
            var tile_max = MIN_F32;
            for (var jj = 0u; jj < COLS; jj++) {
                let j = start + jj;
                var score = MIN_F32;
                if j < k_len {
                    var qk = 0.0;
                    for (var c = 0u; c < D; c++) {
                        qk += q[c] * k_tile[jj * D + c];
                    }
                    score = qk + bias[bias_base + j * bias_col];
                }
                scores[jj] = score;
                tile_max = max(tile_max, score);
            }
            let m_new = max(m_run, tile_max);
            let scale = exp(m_run - m_new);
            l_run *= scale;
            for (var c = 0u; c < D; c++) {
                acc[c] *= scale;
            }
            for (var jj = 0u; jj < COLS; jj++) {
                if start + jj < k_len {
                    let p = exp(scores[jj] - m_new);
                    l_run += p;
                    for (var c = 0u; c < D; c++) {
                        acc[c] += p * v_tile[jj * D + c];
                    }
                }
            }
            m_run = m_new;
        }
        workgroupBarrier();
    }

    if valid_row {
        let out_base = (bh * q_len + row) * D;
        for (var c = 0u; c < D; c++) {
            output[out_base + c] = acc[c] / l_run;
        }
        lse[bh * q_len + row] = m_run + log(l_run);
    }
}
