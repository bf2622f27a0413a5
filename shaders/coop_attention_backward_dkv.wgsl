// T5 attention backward, part 2, for f16 training on the cooperative matrices: what
// t5_attention_backward_dkv.wgsl computes, with the same bindings, `info` and outputs.
//
//   d_keys[j, :]   = sum_i dS[i, j] · query[i, :]
//   d_values[j, :] = sum_i P[i, j] · dO[i, :],   P[i, j] = exp(S[i, j] - lse_i)
//
// with dS the score gradient t5_attention_backward_dq (or its cooperative variant) wrote. A
// workgroup owns BR keys of one (batch, head); each subgroup keeps its T keys in cooperative
// tiles and their d_keys and d_values in f32 accumulator tiles, and walks the queries COLS at
// a time (queries and output gradients staged in workgroup memory): Sᵀ = keys · queriesᵀ on
// the cooperative matrices, then by the keys' lanes Pᵀ (bias added, the forward's lse
// subtracted) and dSᵀ, both rounded to f16, then d_values += Pᵀ · dO and d_keys += dSᵀ ·
// queries on the cooperative matrices. `d_keys` and `d_values` are stored [B, N, H, D] with
// the row stride `info` ends with.
//
// With dropout (attention_dropout.wgsl; its words at DROPOUT_AT of `info`) d_values sums
// P · D · dO, D the draw's scale, as the scalar kernel's.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl,
// attention_dropout.wgsl and coop_attention_tiles.wgsl (T, SG, SUBGROUPS, WG, BR, COLS, D,
// LPR, the tile types).

const DROPOUT_AT: u32 = 21u;

@group(0) @binding(0) var<storage, read_write> query: array<f16>;
@group(0) @binding(1) var<storage, read_write> keys: array<f16>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_output: array<f16>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> d_scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> d_keys: array<f16>;
@group(0) @binding(7) var<storage, read_write> d_values: array<f16>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, bias,
// grad_output, then the row stride of `d_keys` and `d_values` and the dropout's three words.
@group(0) @binding(8) var<uniform> info: array<vec4<u32>, 6>;

// The block's keys [BR][D]; once in the subgroups' tiles, each query tile's Pᵀ [BR][COLS].
// Rows HP apart.
var<workgroup> k_stage: array<f16, BR * HP>;
// Each query tile's dSᵀ [BR][COLS], rows CP apart.
var<workgroup> ds_stage: array<f16, BR * CP>;
// The query and output-gradient tiles, [COLS][D], rows HP apart.
var<workgroup> q_tile: array<f16, COLS * HP>;
var<workgroup> g_tile: array<f16, COLS * HP>;
// The tile's Sᵀ, [BR][COLS] f32, rows SP apart; at the end, each subgroup's gradient tiles
// on their way out.
var<workgroup> s_tile: array<f32, BR * SP>;

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
    let key0 = workgroup.x * BR;
    let q_at = view(4u, b, h);
    let k_at = view(8u, b, h);
    let bias_at = view(12u, b, h);
    let g_at = view(16u, b, h);

    for (var e = t; e < BR * D; e += WG) {
        let j = key0 + e / D;
        var kx = f16(0.0);
        if j < k_len {
            kx = keys[k_at.base + j * k_at.row + (e % D) * k_at.col];
        }
        k_stage[(e / D) * HP + e % D] = kx;
    }
    workgroupBarrier();
    let sub_row = subgroup * T;
    var k_tiles: array<TileA, D / T>;
    for (var c = 0u; c < D / T; c++) {
        k_tiles[c] = coopLoadT<TileA>(&k_stage[sub_row * HP + c * T], HP);
    }
    var dk: array<TileC, D / T>;
    var dv: array<TileC, D / T>;

    // This lane's key (a row of the transposed tiles) and its share of the queries.
    let r = t / LPR;
    let part = t % LPR;
    let key = key0 + r;

    for (var start = 0u; start < q_len; start += COLS) {
        workgroupBarrier();
        for (var e = t; e < COLS * D; e += WG) {
            let i = start + e / D;
            var qx = f16(0.0);
            var gx = f16(0.0);
            if i < q_len {
                qx = query[q_at.base + i * q_at.row + (e % D) * q_at.col];
                gx = grad_output[g_at.base + i * g_at.row + (e % D) * g_at.col];
            }
            q_tile[(e / D) * HP + e % D] = qx;
            g_tile[(e / D) * HP + e % D] = gx;
        }
        workgroupBarrier();

        // Sᵀ of this subgroup's keys (queriesᵀ: the query tile read column-major).
        for (var j = 0u; j < COLS / T; j++) {
            var s: TileC;
            for (var c = 0u; c < D / T; c++) {
                s = coopMultiplyAdd(k_tiles[c], coopLoad<TileB>(&q_tile[j * T * HP + c * T], HP), s);
            }
            coopStoreT(s, &s_tile[sub_row * SP + j * T], SP);
        }
        workgroupBarrier();

        for (var c = part; c < COLS; c += LPR) {
            let i = start + c;
            var p = 0.0;
            var ds = 0.0;
            if i < q_len && key < k_len {
                let score = s_tile[r * SP + c] + bias[bias_at.base + i * bias_at.row + key * bias_at.col];
                p = exp(score - lse[bh * q_len + i]) * dropout_scale(dropout_row(bh, q_len, i), key);
                ds = d_scores[(bh * q_len + i) * k_len + key];
            }
            k_stage[r * HP + c] = f16(p);
            ds_stage[r * CP + c] = f16(ds);
        }
        workgroupBarrier();

        // d_values += Pᵀ · dO, d_keys += dSᵀ · queries.
        for (var c = 0u; c < D / T; c++) {
            for (var j = 0u; j < COLS / T; j++) {
                let p = coopLoadT<TileA>(&k_stage[sub_row * HP + j * T], HP);
                let ds = coopLoadT<TileA>(&ds_stage[sub_row * CP + j * T], CP);
                dv[c] = coopMultiplyAdd(p, coopLoadT<TileB>(&g_tile[j * T * HP + c * T], HP), dv[c]);
                dk[c] = coopMultiplyAdd(ds, coopLoadT<TileB>(&q_tile[j * T * HP + c * T], HP), dk[c]);
            }
        }
    }

    // Each gradient tile through this subgroup's rows of `s_tile`, rounded to f16 by its lanes.
    let out_stride = param(20u);
    for (var c = 0u; c < D / T; c++) {
        workgroupBarrier();
        coopStoreT(dk[c], &s_tile[sub_row * SP], SP);
        workgroupBarrier();
        for (var e = lane; e < T * T; e += SG) {
            let out_key = key0 + sub_row + e / T;
            if out_key < k_len {
                d_keys[(b * k_len + out_key) * out_stride + h * D + c * T + e % T] = f16(s_tile[(sub_row + e / T) * SP + e % T]);
            }
        }
        workgroupBarrier();
        coopStoreT(dv[c], &s_tile[sub_row * SP], SP);
        workgroupBarrier();
        for (var e = lane; e < T * T; e += SG) {
            let out_key = key0 + sub_row + e / T;
            if out_key < k_len {
                d_values[(b * k_len + out_key) * out_stride + h * D + c * T + e % T] = f16(s_tile[(sub_row + e / T) * SP + e % T]);
            }
        }
    }
}
