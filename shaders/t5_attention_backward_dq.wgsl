// T5 attention backward, part 1: the score gradient and the query gradient.
//
// With P = softmax(S), S = query · keysᵀ + bias (no scale), dO = grad_output, the forward's
// row log-sum-exp lse_i and delta_i = sum_c dO[i, c] · output[i, c] (computed here, from the
// forward's output, rather than by tensor ops beforehand):
//
//   P[i, j]       = exp(S[i, j] - lse_i)
//   dS[i, j]      = P[i, j] · (dO[i, :] · values[j, :] - delta_i)     -> d_scores (= d_bias, unreduced)
//   d_query[i, :] = sum_j dS[i, j] · keys[j, :]
//
// A workgroup of 16 × 8 threads owns BR = 32 query rows of one (batch, head), with their
// queries and output gradients in shared memory, and walks the keys COLS at a time (keys and
// values tile in shared memory). Thread (tx, ty) computes S and dO · valuesᵀ for rows
// ty·4 .. ty·4+3 and keys tx, tx+16, ..., writes dS to `d_scores` (the bias gradient, read
// again by t5_attention_backward_dkv.wgsl) and to shared memory, then accumulates columns
// (tx + 16u)·4 .. +3 of its rows of d_query. Inputs are read through their strides (a
// broadcast dim of `bias` has stride 0, and the forward's `output` is read the same way);
// `lse` [B, H, M] and `d_scores` [B, H, M, N] are contiguous, and `d_query` is stored
// [B, M, H, D] with a row stride of its own (`info`'s last u32: H·D, or the width of the
// packed query/key/value projection it is a column block of), the layout of the projection
// it flows back into. Nine storage buffers:
// one more than WebGPU's default limit, within every native adapter's (checked on the host).
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`), D[i, j] the
// draw's scale (0, or 1 / (1 - rate)) the forward multiplied P[i, j] by:
//
//   dS[i, j]      = P[i, j] · (D[i, j] · dO[i, :] · values[j, :] - delta_i)
//
// (delta_i = dO[i, :] · output[i, :] still equals sum_j P[i, j] · D[i, j] · dO[i, :] · values[j, :]).
//
// Prepended: prelude.wgsl, attention_dropout.wgsl, training_tiles.wgsl (D, TX, TY, THREADS,
// DU, swizzled), and `enable f16;` before them for f16.
// Template values: d (head size, a multiple of 64), cols (keys per tile, a multiple of 16); io, the element type of
// the query, key, value and gradient buffers (f32, or f16 for f16 training: read into f32,
// where all the math is done, and results rounded once). Bias, statistics and scores: f32.

const RT: u32 = 4u;
const BR: u32 = TY * RT;
const COLS: u32 = {{ cols }}u;
const KT: u32 = COLS / TX;
const DROPOUT_AT: u32 = 29u;

@group(0) @binding(0) var<storage, read_write> query: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> keys: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> values: array<{{ io }}>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_output: array<{{ io }}>;
@group(0) @binding(5) var<storage, read_write> output: array<{{ io }}>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_query: array<{{ io }}>;
@group(0) @binding(8) var<storage, read_write> d_scores: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias,
// grad_output, output, then the row stride of `d_query` and the dropout's seed, threshold and
// scale.
@group(0) @binding(9) var<uniform> info: array<vec4<u32>, 8>;

// Queries and output gradients of the block, row-major; keys and values tile, vec4 columns
// XOR-swizzled by row. Once dO · valuesᵀ is done, `v_tile` holds the tile's dS, [row][key / 4].
var<workgroup> q_tile: array<vec4<f32>, BR * D4>;
var<workgroup> g_tile: array<vec4<f32>, BR * D4>;
var<workgroup> k_tile: array<vec4<f32>, COLS * D4>;
var<workgroup> v_tile: array<vec4<f32>, COLS * D4>;

@compute @workgroup_size(THREADS)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let tx = t % TX;
    let ty = t / TX;
    let heads = param(0u);
    let q_len = param(1u);
    let k_len = param(2u);
    let bh = workgroup.y;
    let b = bh / heads;
    let h = bh % heads;
    let row0 = workgroup.x * BR;

    let q_at = view(4u, b, h);
    let k_at = view(8u, b, h);
    let v_at = view(12u, b, h);
    let bias_at = view(16u, b, h);
    let g_at = view(20u, b, h);
    let o_at = view(24u, b, h);

    for (var e = t; e < BR * D4; e += THREADS) {
        let r = row0 + e / D4;
        var qv = vec4<f32>(0.0);
        var gv = vec4<f32>(0.0);
        if r < q_len {
            let qa = q_at.base + r * q_at.row + (e % D4) * 4u * q_at.col;
            qv = vec4<f32>(vec4<{{ io }}>(query[qa], query[qa + q_at.col], query[qa + 2u * q_at.col], query[qa + 3u * q_at.col]));
            let ga = g_at.base + r * g_at.row + (e % D4) * 4u * g_at.col;
            gv = vec4<f32>(vec4<{{ io }}>(grad_output[ga], grad_output[ga + g_at.col], grad_output[ga + 2u * g_at.col], grad_output[ga + 3u * g_at.col]));
        }
        q_tile[e] = qv;
        g_tile[e] = gv;
    }

    // delta of rows ty·4+i, from global memory: each of a row's 16 threads computes it
    // whole (the same reads, served by the cache), which costs no barrier; lavapipe's LLVM
    // turns every barrier into a coroutine suspension, and one more made this kernel take
    // minutes to compile in f16.
    var lse_row: array<f32, RT>;
    var delta_row: array<f32, RT>;
    var acc: array<vec4<f32>, RT * DU>;
    for (var i = 0u; i < RT; i++) {
        let row = row0 + ty * RT + i;
        lse_row[i] = 0.0;
        delta_row[i] = 0.0;
        if row < q_len {
            lse_row[i] = lse[bh * q_len + row];
            var delta = 0.0;
            let oa = o_at.base + row * o_at.row;
            let ga = g_at.base + row * g_at.row;
            for (var c = 0u; c < D; c++) {
                delta += f32(grad_output[ga + c * g_at.col]) * f32(output[oa + c * o_at.col]);
            }
            delta_row[i] = delta;
        }
        for (var u = 0u; u < DU; u++) {
            acc[i * DU + u] = vec4<f32>(0.0);
        }
    }

    for (var start = 0u; start < k_len; start += COLS) {
        workgroupBarrier();
        for (var e = t; e < COLS * D4; e += THREADS) {
            let kk = e / D4;
            let c4 = e % D4;
            let j = start + kk;
            var kv = vec4<f32>(0.0);
            var vv = vec4<f32>(0.0);
            if j < k_len {
                let ka = k_at.base + j * k_at.row + c4 * 4u * k_at.col;
                kv = vec4<f32>(vec4<{{ io }}>(keys[ka], keys[ka + k_at.col], keys[ka + 2u * k_at.col], keys[ka + 3u * k_at.col]));
                let va = v_at.base + j * v_at.row + c4 * 4u * v_at.col;
                vv = vec4<f32>(vec4<{{ io }}>(values[va], values[va + v_at.col], values[va + 2u * v_at.col], values[va + 3u * v_at.col]));
            }
            k_tile[swizzled(kk, c4)] = kv;
            v_tile[swizzled(kk, c4)] = vv;
        }
        workgroupBarrier();

        // S and dO · valuesᵀ for rows ty·4+i, keys tx + 16j.
        var s: array<f32, RT * KT>;
        var dp: array<f32, RT * KT>;
        for (var x = 0u; x < RT * KT; x++) {
            s[x] = 0.0;
            dp[x] = 0.0;
        }
        for (var c4 = 0u; c4 < D4; c4++) {
            var kv: array<vec4<f32>, KT>;
            var vv: array<vec4<f32>, KT>;
            for (var j = 0u; j < KT; j++) {
                kv[j] = k_tile[swizzled(tx + TX * j, c4)];
                vv[j] = v_tile[swizzled(tx + TX * j, c4)];
            }
            for (var i = 0u; i < RT; i++) {
                let qv = q_tile[(ty * RT + i) * D4 + c4];
                let gv = g_tile[(ty * RT + i) * D4 + c4];
                for (var j = 0u; j < KT; j++) {
                    s[i * KT + j] += dot(qv, kv[j]);
                    dp[i * KT + j] += dot(gv, vv[j]);
                }
            }
        }
        var ds: array<f32, RT * KT>;
        for (var i = 0u; i < RT; i++) {
            let row = row0 + ty * RT + i;
            let row_hash = dropout_row(bh, q_len, row);
            for (var j = 0u; j < KT; j++) {
                let key = start + tx + TX * j;
                var grad = 0.0;
                if row < q_len && key < k_len {
                    let p = exp(s[i * KT + j] + bias[bias_at.base + row * bias_at.row + key * bias_at.col] - lse_row[i]);
                    grad = p * (dp[i * KT + j] * dropout_scale(row_hash, key) - delta_row[i]);
                    d_scores[(bh * q_len + row) * k_len + key] = grad;
                }
                ds[i * KT + j] = grad;
            }
        }
        workgroupBarrier();
        for (var i = 0u; i < RT; i++) {
            for (var j = 0u; j < KT; j++) {
                let kk = tx + TX * j;
                v_tile[(ty * RT + i) * (COLS / 4u) + kk / 4u][kk % 4u] = ds[i * KT + j];
            }
        }
        workgroupBarrier();

        // d_query columns (tx + 16u)·4.. of rows ty·4+i += dS · keys.
        for (var k4 = 0u; k4 < COLS / 4u; k4++) {
            var dsv: array<vec4<f32>, RT>;
            for (var i = 0u; i < RT; i++) {
                dsv[i] = v_tile[(ty * RT + i) * (COLS / 4u) + k4];
            }
            for (var kk = 0u; kk < 4u; kk++) {
                for (var u = 0u; u < DU; u++) {
                    let kv = k_tile[swizzled(k4 * 4u + kk, tx + TX * u)];
                    for (var i = 0u; i < RT; i++) {
                        acc[i * DU + u] += dsv[i][kk] * kv;
                    }
                }
            }
        }
    }

    for (var i = 0u; i < RT; i++) {
        let row = row0 + ty * RT + i;
        if row < q_len {
            let out_base = (b * q_len + row) * param(28u) + h * D;
            for (var u = 0u; u < DU; u++) {
                let o = acc[i * DU + u];
                let c = (tx + TX * u) * 4u;
                d_query[out_base + c] = {{ io }}(o.x);
                d_query[out_base + c + 1u] = {{ io }}(o.y);
                d_query[out_base + c + 2u] = {{ io }}(o.z);
                d_query[out_base + c + 3u] = {{ io }}(o.w);
            }
        }
    }
}
