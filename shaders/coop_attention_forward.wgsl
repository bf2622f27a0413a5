// T5 attention forward for f16 training on the cooperative matrices (tensor cores): what
// t5_attention_forward.wgsl computes, with the same bindings, `info` and outputs.
//
//   output[b, h, i, :] = softmax_j(query[b, h, i, :] · keys[b, h, j, :] + bias[b, h, i, j]) · values[b, h, j, :]
//   lse[b, h, i]       = log(sum_j exp(score[i, j]))   (kept for the backward pass)
//
// A workgroup owns BR query rows of one (batch, head); each subgroup keeps its T rows of
// queries in D / T cooperative tiles and walks the keys COLS at a time (keys and values
// staged in workgroup memory, f16; positions past k_len read as 0):
// 1. scores = queries · keysᵀ on the cooperative matrices, stored to workgroup memory (f32);
// 2. bias added, online softmax in f32 by the row's lanes: the new row max, P = exp(score -
//    max) rounded to f16 (as HF's f16 attention casts the f32 softmax for its matmul), and
//    the row's exp-sum;
// 3. P · values on the cooperative matrices, back through workgroup memory, where each lane
//    rescales its share of the row's f32 output sum and adds the tile's.
// Masked keys carry a large negative bias (f32::MIN) and get weight 0; a row whose keys are
// all masked averages the values, as softmax does. `output` is stored [B, M, H, D], `lse`
// [B, H, M]; the inputs are read through their strides.
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`), P goes into the
// product times its draw's scale (0, or 1 / (1 - rate)); the row's sum and `lse` take it
// undropped, as the scalar kernel does.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl,
// attention_dropout.wgsl and coop_attention_tiles.wgsl (T, SG, SUBGROUPS, WG, BR, COLS, D,
// LPR, the tile types).

const DROPOUT_AT: u32 = 20u;

@group(0) @binding(0) var<storage, read_write> query: array<f16>;
@group(0) @binding(1) var<storage, read_write> keys: array<f16>;
@group(0) @binding(2) var<storage, read_write> values: array<f16>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f16>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias,
// then the dropout's seed, threshold and scale.
@group(0) @binding(6) var<uniform> info: array<vec4<u32>, 6>;

// The block's queries [BR][D]; once the subgroups hold them in tiles, each key tile's
// probabilities [BR][COLS] (COLS ≤ D). Rows HP apart.
var<workgroup> qp: array<f16, BR * HP>;
// The key and value tiles, [COLS][D], rows HP apart.
var<workgroup> k_tile: array<f16, COLS * HP>;
var<workgroup> v_tile: array<f16, COLS * HP>;
// The tile's scores [BR][COLS], then its P · values [BR][D], rows FP apart.
var<workgroup> s_tile: array<f32, BR * FP>;
// Each lane's share of its row's max and exp-sum over the tile.
var<workgroup> part_max: array<f32, WG>;
var<workgroup> part_sum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let t = subgroup * SG + lane;
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

    for (var e = t; e < BR * D; e += WG) {
        let r = row0 + e / D;
        var x = f16(0.0);
        if r < q_len {
            x = query[q_at.base + r * q_at.row + (e % D) * q_at.col];
        }
        qp[(e / D) * HP + e % D] = x;
    }
    workgroupBarrier();
    let sub_row = subgroup * T;
    var q_tiles: array<TileA, D / T>;
    for (var c = 0u; c < D / T; c++) {
        q_tiles[c] = coopLoadT<TileA>(&qp[sub_row * HP + c * T], HP);
    }

    // This lane's row of the block and its share of the row: columns part, part + LPR, ...
    let r = t / LPR;
    let part = t % LPR;
    let row = row0 + r;
    let row_hash = dropout_row(bh, q_len, row);
    var m = MIN_F32;
    var l = 0.0;
    var o: array<f32, D / LPR>;

    for (var start = 0u; start < k_len; start += COLS) {
        workgroupBarrier();
        for (var e = t; e < COLS * D; e += WG) {
            let j = start + e / D;
            var kx = f16(0.0);
            var vx = f16(0.0);
            if j < k_len {
                kx = keys[k_at.base + j * k_at.row + (e % D) * k_at.col];
                vx = values[v_at.base + j * v_at.row + (e % D) * v_at.col];
            }
            k_tile[(e / D) * HP + e % D] = kx;
            v_tile[(e / D) * HP + e % D] = vx;
        }
        workgroupBarrier();

        // 1. This subgroup's T rows against the tile's keys (keysᵀ: the key tile read
        //    column-major).
        for (var j = 0u; j < COLS / T; j++) {
            var acc: TileC;
            for (var c = 0u; c < D / T; c++) {
                acc = coopMultiplyAdd(q_tiles[c], coopLoad<TileB>(&k_tile[j * T * HP + c * T], HP), acc);
            }
            coopStoreT(acc, &s_tile[sub_row * FP + j * T], FP);
        }
        workgroupBarrier();

        // 2. Online softmax of the row, its lanes sharing max and sum through workgroup memory.
        var tile_max = MIN_F32;
        for (var c = part; c < COLS; c += LPR) {
            let key = start + c;
            var score = MIN_F32;
            if row < q_len && key < k_len {
                score = s_tile[r * FP + c] + bias[bias_at.base + row * bias_at.row + key * bias_at.col];
            }
            s_tile[r * FP + c] = score;
            tile_max = max(tile_max, score);
        }
        part_max[t] = tile_max;
        workgroupBarrier();
        var m_new = m;
        for (var x = 0u; x < LPR; x++) {
            m_new = max(m_new, part_max[r * LPR + x]);
        }
        var sum = 0.0;
        for (var c = part; c < COLS; c += LPR) {
            var p = 0.0;
            if start + c < k_len {
                p = exp(s_tile[r * FP + c] - m_new);
            }
            qp[r * HP + c] = f16(p * dropout_scale(row_hash, start + c));
            sum += p;
        }
        part_sum[t] = sum;
        workgroupBarrier();
        var tile_sum = 0.0;
        for (var x = 0u; x < LPR; x++) {
            tile_sum += part_sum[r * LPR + x];
        }
        let scale = exp(m - m_new);
        l = l * scale + tile_sum;
        m = m_new;

        // 3. P · values for this subgroup's rows, then each lane's share into its sums.
        for (var c = 0u; c < D / T; c++) {
            var acc: TileC;
            for (var j = 0u; j < COLS / T; j++) {
                let p = coopLoadT<TileA>(&qp[sub_row * HP + j * T], HP);
                acc = coopMultiplyAdd(p, coopLoadT<TileB>(&v_tile[j * T * HP + c * T], HP), acc);
            }
            coopStoreT(acc, &s_tile[sub_row * FP + c * T], FP);
        }
        workgroupBarrier();
        for (var u = 0u; u < D / LPR; u++) {
            o[u] = o[u] * scale + s_tile[r * FP + part + u * LPR];
        }
    }

    if row < q_len {
        let out_base = ((b * q_len + row) * heads + h) * D;
        for (var u = 0u; u < D / LPR; u++) {
            output[out_base + part + u * LPR] = f16(o[u] / l);
        }
        if part == 0u {
            lse[bh * q_len + row] = m + log(l);
        }
    }
}
