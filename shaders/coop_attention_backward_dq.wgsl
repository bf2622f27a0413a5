// T5 attention backward, part 1, for f16 training on the cooperative matrices: what
// t5_attention_backward_dq.wgsl computes, with the same bindings, `info` and outputs.
//
//   P[i, j]       = exp(S[i, j] - lse_i),  S = query · keysᵀ + bias
//   dS[i, j]      = P[i, j] · (dO[i, :] · values[j, :] - delta_i)     -> d_scores (f32)
//   d_query[i, :] = sum_j dS[i, j] · keys[j, :]
//
// with delta_i = sum_c dO[i, c] · output[i, c]. A workgroup owns BR query rows of one (batch,
// head); each subgroup keeps its T rows of queries and output gradients in cooperative tiles
// and its rows of d_query in f32 accumulator tiles, and walks the keys COLS at a time (keys
// and values staged in workgroup memory): S and dO · valuesᵀ on the cooperative matrices,
// dS by the rows' lanes in f32 (written to `d_scores`, and rounded to f16 for the product,
// as HF's f16 backward multiplies it), then d_query += dS · keys on the cooperative
// matrices. `d_query` is stored [B, M, H, D] with the row stride `info` ends with.
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`) dS takes the
// draw's scale D: dS = P · (D · dO · valuesᵀ - delta), as the scalar kernel's.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl,
// attention_dropout.wgsl and coop_attention_tiles.wgsl (T, SG, SUBGROUPS, WG, BR, COLS, D,
// LPR, the tile types).

const DROPOUT_AT: u32 = 29u;

@group(0) @binding(0) var<storage, read_write> query: array<f16>;
@group(0) @binding(1) var<storage, read_write> keys: array<f16>;
@group(0) @binding(2) var<storage, read_write> values: array<f16>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad_output: array<f16>;
@group(0) @binding(5) var<storage, read_write> output: array<f16>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> d_query: array<f16>;
@group(0) @binding(8) var<storage, read_write> d_scores: array<f32>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias,
// grad_output, output, then the row stride of `d_query` and the dropout's three words.
@group(0) @binding(9) var<uniform> info: array<vec4<u32>, 8>;

// The block's queries [BR][D]; once in the subgroups' tiles, each key tile's dS [BR][COLS].
// Rows HP apart.
var<workgroup> q_stage: array<f16, BR * HP>;
// The block's output gradients [BR][D], rows HP apart.
var<workgroup> g_stage: array<f16, BR * HP>;
// The key and value tiles, [COLS][D], rows HP apart.
var<workgroup> k_tile: array<f16, COLS * HP>;
var<workgroup> v_tile: array<f16, COLS * HP>;
// The tile's S and dO · valuesᵀ, [BR][COLS] f32, rows SP apart; at the end, each subgroup's
// d_query tiles on their way out.
var<workgroup> s_tile: array<f32, BR * SP>;
var<workgroup> dp_tile: array<f32, BR * SP>;

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
    let g_at = view(20u, b, h);
    let o_at = view(24u, b, h);

    for (var e = t; e < BR * D; e += WG) {
        let r = row0 + e / D;
        var qx = f16(0.0);
        var gx = f16(0.0);
        if r < q_len {
            qx = query[q_at.base + r * q_at.row + (e % D) * q_at.col];
            gx = grad_output[g_at.base + r * g_at.row + (e % D) * g_at.col];
        }
        q_stage[(e / D) * HP + e % D] = qx;
        g_stage[(e / D) * HP + e % D] = gx;
    }

    // This lane's row and its share of the row's columns (part, part + LPR, ...). Each of a
    // row's lanes computes delta whole from global memory (the same reads, served by the
    // cache): no barrier for it.
    let r = t / LPR;
    let part = t % LPR;
    let row = row0 + r;
    let row_hash = dropout_row(bh, q_len, row);
    var lse_row = 0.0;
    var delta = 0.0;
    if row < q_len {
        lse_row = lse[bh * q_len + row];
        let oa = o_at.base + row * o_at.row;
        let ga = g_at.base + row * g_at.row;
        for (var c = 0u; c < D; c++) {
            delta += f32(grad_output[ga + c * g_at.col]) * f32(output[oa + c * o_at.col]);
        }
    }

    workgroupBarrier();
    let sub_row = subgroup * T;
    var q_tiles: array<TileA, D / T>;
    var g_tiles: array<TileA, D / T>;
    for (var c = 0u; c < D / T; c++) {
        q_tiles[c] = coopLoadT<TileA>(&q_stage[sub_row * HP + c * T], HP);
        g_tiles[c] = coopLoadT<TileA>(&g_stage[sub_row * HP + c * T], HP);
    }
    var dq: array<TileC, D / T>;

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

        // S and dO · valuesᵀ of this subgroup's rows (keys and values read column-major).
        for (var j = 0u; j < COLS / T; j++) {
            var s: TileC;
            var dp: TileC;
            for (var c = 0u; c < D / T; c++) {
                s = coopMultiplyAdd(q_tiles[c], coopLoad<TileB>(&k_tile[j * T * HP + c * T], HP), s);
                dp = coopMultiplyAdd(g_tiles[c], coopLoad<TileB>(&v_tile[j * T * HP + c * T], HP), dp);
            }
            coopStoreT(s, &s_tile[sub_row * SP + j * T], SP);
            coopStoreT(dp, &dp_tile[sub_row * SP + j * T], SP);
        }
        workgroupBarrier();

        for (var c = part; c < COLS; c += LPR) {
            let key = start + c;
            var ds = 0.0;
            if row < q_len && key < k_len {
                let score = s_tile[r * SP + c] + bias[bias_at.base + row * bias_at.row + key * bias_at.col];
                ds = exp(score - lse_row) * (dp_tile[r * SP + c] * dropout_scale(row_hash, key) - delta);
                d_scores[(bh * q_len + row) * k_len + key] = ds;
            }
            q_stage[r * HP + c] = f16(ds);
        }
        workgroupBarrier();

        // d_query += dS · keys.
        for (var c = 0u; c < D / T; c++) {
            for (var j = 0u; j < COLS / T; j++) {
                let ds = coopLoadT<TileA>(&q_stage[sub_row * HP + j * T], HP);
                dq[c] = coopMultiplyAdd(ds, coopLoadT<TileB>(&k_tile[j * T * HP + c * T], HP), dq[c]);
            }
        }
    }

    // Each d_query tile through this subgroup's rows of `s_tile` (T × SP ≥ T × T), rounded to
    // f16 by its lanes.
    let out_stride = param(28u);
    for (var c = 0u; c < D / T; c++) {
        workgroupBarrier();
        coopStoreT(dq[c], &s_tile[sub_row * SP], SP);
        workgroupBarrier();
        for (var e = lane; e < T * T; e += SG) {
            let out_row = row0 + sub_row + e / T;
            if out_row < q_len {
                d_query[(b * q_len + out_row) * out_stride + h * D + c * T + e % T] = f16(s_tile[(sub_row + e / T) * SP + e % T]);
            }
        }
    }
}
