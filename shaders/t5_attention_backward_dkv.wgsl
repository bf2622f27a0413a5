// T5 attention backward, part 2: the key and value gradients.
//
// With S = query · keysᵀ + bias (no scale), P[i, j] = exp(S[i, j] - lse_i), dO = grad_output
// and dS the score gradient written by t5_attention_backward_dq.wgsl:
//
//   d_keys[j, :]   = sum_i dS[i, j] · query[i, :]
//   d_values[j, :] = sum_i P[i, j] · dO[i, :]
//
// A workgroup of 16 × 8 threads owns BK = 32 keys of one (batch, head), with those keys in
// shared memory, and walks the queries ROWS at a time (queries, output gradients and the dS
// tile in shared memory). Thread (tx, ty) recomputes P for keys ty·4 .. ty·4+3 and queries
// tx, tx+16, ... from the saved lse, then accumulates columns (tx + 16u)·4 .. +3 of its keys'
// d_keys and d_values. Inputs are read through their strides (a broadcast dim of `bias` has
// stride 0); `lse` [B, H, M] (the forward's) and `d_scores` [B, H, M, N] are contiguous;
// `d_keys` and `d_values` are stored [B, N, H, D] with a row stride of their own (`info`'s
// last u32: H·D, or the width of the packed key/value projection they are column blocks
// of), the layout of the projections they flow back into (the host hands them out as
// [B, H, N, D] views).
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`), d_values sums
// P[i, j] · D[i, j] · dO[i, :], D the draw's scale the forward multiplied P[i, j] by; dS
// (from the dq kernel) has it already.
//
// Prepended: prelude.wgsl, attention_dropout.wgsl, training_tiles.wgsl (D, TX, TY, THREADS,
// DU, swizzled), and `enable f16;` before them for f16.
// Template values: d (head size, a multiple of 64), rows (queries per tile, a multiple of 16); io, the element type of
// the query, key, value and gradient buffers (f32, or f16 for f16 training: read into f32,
// where all the math is done, and results rounded once). Bias, statistics and scores: f32.

const KR: u32 = 4u;
const BK: u32 = TY * KR;
const ROWS: u32 = {{ rows }}u;
const QT: u32 = ROWS / TX;
const DROPOUT_AT: u32 = 21u;

@group(0) @binding(0) var<storage, read_write> query: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> keys: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_output: array<{{ io }}>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_keys: array<{{ io }}>;
@group(0) @binding(7) var<storage, read_write> d_values: array<{{ io }}>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, bias,
// grad_output, then the row stride of `d_keys` and `d_values` and the dropout's seed, threshold
// and scale.
@group(0) @binding(8) var<uniform> info: array<vec4<u32>, 6>;

// The workgroup's keys, row-major; the query tile, vec4 columns XOR-swizzled by row; the
// output-gradient tile, row-major; P and dS of the tile as [query][key / 4].
var<workgroup> k_block: array<vec4<f32>, BK * D4>;
var<workgroup> q_tile: array<vec4<f32>, ROWS * D4>;
var<workgroup> g_tile: array<vec4<f32>, ROWS * D4>;
var<workgroup> p_tile: array<vec4<f32>, ROWS * BK / 4u>;
var<workgroup> ds_tile: array<vec4<f32>, ROWS * BK / 4u>;

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
    let key0 = workgroup.x * BK;

    let q_at = view(4u, b, h);
    let k_at = view(8u, b, h);
    let bias_at = view(12u, b, h);
    let g_at = view(16u, b, h);

    for (var e = t; e < BK * D4; e += THREADS) {
        let key = key0 + e / D4;
        var kv = vec4<f32>(0.0);
        if key < k_len {
            let ka = k_at.base + key * k_at.row + (e % D4) * 4u * k_at.col;
            kv = vec4<f32>(vec4<{{ io }}>(keys[ka], keys[ka + k_at.col], keys[ka + 2u * k_at.col], keys[ka + 3u * k_at.col]));
        }
        k_block[e] = kv;
    }

    var dk: array<vec4<f32>, KR * DU>;
    var dv: array<vec4<f32>, KR * DU>;
    for (var x = 0u; x < KR * DU; x++) {
        dk[x] = vec4<f32>(0.0);
        dv[x] = vec4<f32>(0.0);
    }

    for (var start = 0u; start < q_len; start += ROWS) {
        workgroupBarrier();
        for (var e = t; e < ROWS * D4; e += THREADS) {
            let qq = e / D4;
            let c4 = e % D4;
            let i = start + qq;
            var qv = vec4<f32>(0.0);
            var gv = vec4<f32>(0.0);
            if i < q_len {
                let qa = q_at.base + i * q_at.row + c4 * 4u * q_at.col;
                qv = vec4<f32>(vec4<{{ io }}>(query[qa], query[qa + q_at.col], query[qa + 2u * q_at.col], query[qa + 3u * q_at.col]));
                let ga = g_at.base + i * g_at.row + c4 * 4u * g_at.col;
                gv = vec4<f32>(vec4<{{ io }}>(grad_output[ga], grad_output[ga + g_at.col], grad_output[ga + 2u * g_at.col], grad_output[ga + 3u * g_at.col]));
            }
            q_tile[swizzled(qq, c4)] = qv;
            g_tile[e] = gv;
        }
        // dS tile, read along keys (coalesced).
        for (var e = t; e < ROWS * BK; e += THREADS) {
            let qq = e / BK;
            let kk = e % BK;
            let i = start + qq;
            let key = key0 + kk;
            var grad = 0.0;
            if i < q_len && key < k_len {
                grad = d_scores[(bh * q_len + i) * k_len + key];
            }
            ds_tile[e / 4u][e % 4u] = grad;
        }
        workgroupBarrier();

        // P for keys ty·4+r and queries tx + 16j.
        var s: array<f32, KR * QT>;
        for (var x = 0u; x < KR * QT; x++) {
            s[x] = 0.0;
        }
        for (var c4 = 0u; c4 < D4; c4++) {
            var qv: array<vec4<f32>, QT>;
            for (var j = 0u; j < QT; j++) {
                qv[j] = q_tile[swizzled(tx + TX * j, c4)];
            }
            for (var r = 0u; r < KR; r++) {
                let kv = k_block[(ty * KR + r) * D4 + c4];
                for (var j = 0u; j < QT; j++) {
                    s[r * QT + j] += dot(kv, qv[j]);
                }
            }
        }
        for (var j = 0u; j < QT; j++) {
            let qq = tx + TX * j;
            let i = start + qq;
            var p = vec4<f32>(0.0);
            if i < q_len {
                let lse_i = lse[bh * q_len + i];
                let row_hash = dropout_row(bh, q_len, i);
                for (var r = 0u; r < KR; r++) {
                    let key = key0 + ty * KR + r;
                    if key < k_len {
                        p[r] = exp(s[r * QT + j] + bias[bias_at.base + i * bias_at.row + key * bias_at.col] - lse_i) * dropout_scale(row_hash, key);
                    }
                }
            }
            p_tile[qq * (BK / 4u) + ty] = p;
        }
        workgroupBarrier();

        // Columns (tx + 16u)·4.. of d_values += Pᵀ · dO and of d_keys += dSᵀ · query.
        for (var qq = 0u; qq < ROWS; qq++) {
            let pv = p_tile[qq * (BK / 4u) + ty];
            let dsv = ds_tile[qq * (BK / 4u) + ty];
            for (var u = 0u; u < DU; u++) {
                let gv = g_tile[qq * D4 + tx + TX * u];
                let qv = q_tile[swizzled(qq, tx + TX * u)];
                for (var r = 0u; r < KR; r++) {
                    dv[r * DU + u] += pv[r] * gv;
                    dk[r * DU + u] += dsv[r] * qv;
                }
            }
        }
    }

    for (var r = 0u; r < KR; r++) {
        let key = key0 + ty * KR + r;
        if key < k_len {
            let out_base = (b * k_len + key) * param(20u) + h * D;
            for (var u = 0u; u < DU; u++) {
                let c = (tx + TX * u) * 4u;
                let gk = dk[r * DU + u];
                let gv = dv[r * DU + u];
                d_keys[out_base + c] = {{ io }}(gk.x);
                d_keys[out_base + c + 1u] = {{ io }}(gk.y);
                d_keys[out_base + c + 2u] = {{ io }}(gk.z);
                d_keys[out_base + c + 3u] = {{ io }}(gk.w);
                d_values[out_base + c] = {{ io }}(gv.x);
                d_values[out_base + c + 1u] = {{ io }}(gv.y);
                d_values[out_base + c + 2u] = {{ io }}(gv.z);
                d_values[out_base + c + 3u] = {{ io }}(gv.w);
            }
        }
    }
}
