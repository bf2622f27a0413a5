// T5 attention forward for training: every query row of a sequence at once.
//
//   output[b, h, i, :] = softmax_j(query[b, h, i, :] · keys[b, h, j, :] + bias[b, h, i, j]) · values[b, h, j, :]
//   lse[b, h, i]       = log(sum_j exp(score[i, j]))   (kept for the backward pass)
//
// No 1/sqrt(d) scale (T5). Flash-attention style: a workgroup of 16 × 8 threads owns BR = 32
// query rows of one (batch, head) and walks the keys COLS at a time, with the query block and
// the key/value tile in shared memory. Thread (tx, ty) scores rows ty·4 .. ty·4+3 against
// keys tx, tx+16, ...; the row max and exp-sum of the tile are reduced across the 16 threads
// of a row in shared memory (online softmax), and the thread accumulates output columns
// (tx + 16u)·4 .. +3 of its 4 rows from the tile's probabilities. The [q_len, k_len] scores
// are never stored.
//
// Inputs are read through their strides (a broadcast dim of `bias` has stride 0); `output`
// is stored [B, M, H, D] (the layout of the `[batch, q_len, heads · d]` it becomes, so that
// needs no copy; the host hands it out as a [B, H, M, D] view) and `lse` [B, H, M] is
// contiguous. Masked keys carry a large negative bias
// (f32::MIN) and get weight 0.
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`) each probability
// is multiplied by its draw's scale (0, or 1 / (1 - rate)) on its way into the output, while
// the row's sum and `lse` take it undropped: output = dropout(softmax(S)) · values.
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
const DROPOUT_AT: u32 = 20u;

@group(0) @binding(0) var<storage, read_write> query: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> keys: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> values: array<{{ io }}>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<{{ io }}>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias,
// then the dropout's seed, threshold and scale.
@group(0) @binding(6) var<uniform> info: array<vec4<u32>, 6>;

// Query block, row-major; keys and values tile, vec4 columns XOR-swizzled by row so that 16
// threads reading 16 different rows hit different banks.
var<workgroup> q_tile: array<vec4<f32>, BR * D4>;
var<workgroup> k_tile: array<vec4<f32>, COLS * D4>;
var<workgroup> v_tile: array<vec4<f32>, COLS * D4>;
// Probabilities of the tile, [row][key / 4].
var<workgroup> p_tile: array<vec4<f32>, BR * COLS / 4u>;
// Per-row partial max / sum of each of the 16 threads of a row.
var<workgroup> partial: array<f32, BR * TX>;

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

    for (var e = t; e < BR * D4; e += THREADS) {
        let r = row0 + e / D4;
        var v = vec4<f32>(0.0);
        if r < q_len {
            let at = q_at.base + r * q_at.row + (e % D4) * 4u * q_at.col;
            v = vec4<f32>(vec4<{{ io }}>(query[at], query[at + q_at.col], query[at + 2u * q_at.col], query[at + 3u * q_at.col]));
        }
        q_tile[e] = v;
    }

    var row_hash: array<u32, RT>;
    for (var i = 0u; i < RT; i++) {
        row_hash[i] = dropout_row(bh, q_len, row0 + ty * RT + i);
    }
    var m: array<f32, RT>;
    var l: array<f32, RT>;
    var acc: array<vec4<f32>, RT * DU>;
    for (var i = 0u; i < RT; i++) {
        m[i] = MIN_F32;
        l[i] = 0.0;
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

        // Scores of rows ty·4+i against keys tx + 16j.
        var s: array<f32, RT * KT>;
        for (var x = 0u; x < RT * KT; x++) {
            s[x] = 0.0;
        }
        for (var c4 = 0u; c4 < D4; c4++) {
            var kv: array<vec4<f32>, KT>;
            for (var j = 0u; j < KT; j++) {
                kv[j] = k_tile[swizzled(tx + TX * j, c4)];
            }
            for (var i = 0u; i < RT; i++) {
                let qv = q_tile[(ty * RT + i) * D4 + c4];
                for (var j = 0u; j < KT; j++) {
                    s[i * KT + j] += dot(qv, kv[j]);
                }
            }
        }
        for (var i = 0u; i < RT; i++) {
            let row = row0 + ty * RT + i;
            var row_max = MIN_F32;
            for (var j = 0u; j < KT; j++) {
                let key = start + tx + TX * j;
                var score = MIN_F32;
                if row < q_len && key < k_len {
                    score = s[i * KT + j] + bias[bias_at.base + row * bias_at.row + key * bias_at.col];
                }
                s[i * KT + j] = score;
                row_max = max(row_max, score);
            }
            partial[(ty * RT + i) * TX + tx] = row_max;
        }
        workgroupBarrier();
        var m_new: array<f32, RT>;
        for (var i = 0u; i < RT; i++) {
            var row_max = m[i];
            for (var x = 0u; x < TX; x++) {
                row_max = max(row_max, partial[(ty * RT + i) * TX + x]);
            }
            m_new[i] = row_max;
        }
        workgroupBarrier();
        for (var i = 0u; i < RT; i++) {
            var sum = 0.0;
            for (var j = 0u; j < KT; j++) {
                let kk = tx + TX * j;
                var p = 0.0;
                if start + kk < k_len {
                    p = exp(s[i * KT + j] - m_new[i]);
                }
                p_tile[(ty * RT + i) * (COLS / 4u) + kk / 4u][kk % 4u] = p * dropout_scale(row_hash[i], start + kk);
                sum += p;
            }
            partial[(ty * RT + i) * TX + tx] = sum;
        }
        workgroupBarrier();
        for (var i = 0u; i < RT; i++) {
            var sum = 0.0;
            for (var x = 0u; x < TX; x++) {
                sum += partial[(ty * RT + i) * TX + x];
            }
            let scale = exp(m[i] - m_new[i]);
            l[i] = l[i] * scale + sum;
            m[i] = m_new[i];
            for (var u = 0u; u < DU; u++) {
                acc[i * DU + u] *= scale;
            }
        }

        // Output columns (tx + 16u)·4.. of rows ty·4+i += p · values.
        for (var k4 = 0u; k4 < COLS / 4u; k4++) {
            var pv: array<vec4<f32>, RT>;
            for (var i = 0u; i < RT; i++) {
                pv[i] = p_tile[(ty * RT + i) * (COLS / 4u) + k4];
            }
            for (var kk = 0u; kk < 4u; kk++) {
                for (var u = 0u; u < DU; u++) {
                    let vv = v_tile[swizzled(k4 * 4u + kk, tx + TX * u)];
                    for (var i = 0u; i < RT; i++) {
                        acc[i * DU + u] += pv[i][kk] * vv;
                    }
                }
            }
        }
    }

    for (var i = 0u; i < RT; i++) {
        let row = row0 + ty * RT + i;
        if row < q_len {
            let out_base = ((b * q_len + row) * heads + h) * D;
            for (var u = 0u; u < DU; u++) {
                let o = acc[i * DU + u] / l[i];
                let c = (tx + TX * u) * 4u;
                output[out_base + c] = {{ io }}(o.x);
                output[out_base + c + 1u] = {{ io }}(o.y);
                output[out_base + c + 2u] = {{ io }}(o.z);
                output[out_base + c + 3u] = {{ io }}(o.w);
            }
            if tx == 0u {
                lse[bh * q_len + row] = m[i] + log(l[i]);
            }
        }
    }
}
