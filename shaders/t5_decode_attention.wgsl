// T5 decode attention: a few query rows (one per generated token) over a key/value cache.
//
//   output[b, h, r, :] = softmax_j(query[b, h, r, :] · keys[b, h, j, :] + bias[b, h, r, j]) · values[b, h, j, :]
//
// No 1/sqrt(d) scale (T5). One workgroup per (query row r, batch·head); its threads walk the
// keys a tile of WG · 4 at a time with an online softmax: each thread scores 4 keys of the tile,
// the workgroup reduces the tile's max and exp-sum in shared memory, and the thread slots
// (column c, key group g) fold p · values into per-column partial sums, rescaled whenever the
// running max grows. The partial sums are reduced at the end and divided by the exp-sum.
//
// Inputs are read through their strides, so views (sliced caches, swapped dims) need no copy;
// the host gives a broadcast dim of `bias` stride 0. The output is contiguous [B, H, M, D].
// Masked keys carry a large negative bias (f32::MIN): their weight is exactly 0, but their
// cache slots must still hold finite values (0 · NaN is NaN).
//
// Prepended: prelude.wgsl (MIN_F32, param), and `enable f16;` before it for f16 models.
// Template values: workgroup_size (a power of two, and >= d); io, the element type of query,
// keys, values and output (f32, or f16 for f16 models: read into f32, where all the math is
// done, and the output rounded to f16 once). The bias is always f32.

const WG: u32 = {{ workgroup_size }}u;
// Keys each thread scores per tile: a tile is WG · KPT keys.
const KPT: u32 = 4u;
const TILE: u32 = WG * KPT;

@group(0) @binding(0) var<storage, read_write> query: array<{{ io }}>;
@group(0) @binding(1) var<storage, read_write> keys: array<{{ io }}>;
@group(0) @binding(2) var<storage, read_write> values: array<{{ io }}>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<{{ io }}>;
// [heads, q_len, k_len, d], then the (b, h, row, col) strides of query, keys, values, bias.
@group(0) @binding(5) var<uniform> info: array<vec4<u32>, 5>;

var<workgroup> q_shared: array<f32, WG>;
var<workgroup> p_shared: array<f32, TILE>;
var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    let heads = param(0u);
    let q_len = param(1u);
    let k_len = param(2u);
    let d = param(3u);
    let row = workgroup.x;
    let bh = workgroup.y;
    let b = bh / heads;
    let h = bh % heads;

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

    if t < d {
        q_shared[t] = f32(query[q_base + t * q_col]);
    }
    // Thread slot for the weighted sum of values: column c of key group g.
    let groups = max(WG / d, 1u);
    let c = t % d;
    let g = t / d;
    let has_slot = g < groups;

    var m_run = MIN_F32;
    var l_run = 0.0;
    var acc = 0.0;
    workgroupBarrier();

    for (var start = 0u; start < k_len; start += TILE) {
        // Scores of keys start + t + WG·x.
        var scores: array<f32, KPT>;
        var tile_max = MIN_F32;
        for (var x = 0u; x < KPT; x++) {
            let j = start + t + WG * x;
            var score = MIN_F32;
            if j < k_len {
                let k_at = k_base + j * k_row;
                var qk = 0.0;
                for (var cc = 0u; cc < d; cc++) {
                    qk += q_shared[cc] * f32(keys[k_at + cc * k_col]);
                }
                score = qk + bias[bias_base + j * bias_col];
            }
            scores[x] = score;
            tile_max = max(tile_max, score);
        }

        // Tile max.
        scratch[t] = tile_max;
        workgroupBarrier();
        for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
            if t < stride {
                scratch[t] = max(scratch[t], scratch[t + stride]);
            }
            workgroupBarrier();
        }
        let m_new = max(m_run, scratch[0]);
        workgroupBarrier();

        // Tile exp-sum.
        var sum = 0.0;
        for (var x = 0u; x < KPT; x++) {
            var p = 0.0;
            if start + t + WG * x < k_len {
                p = exp(scores[x] - m_new);
            }
            p_shared[t + WG * x] = p;
            sum += p;
        }
        scratch[t] = sum;
        workgroupBarrier();
        for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
            if t < stride {
                scratch[t] += scratch[t + stride];
            }
            workgroupBarrier();
        }
        let scale = exp(m_run - m_new);
        l_run = l_run * scale + scratch[0];

        // p · values for this tile.
        if has_slot {
            let len = min(TILE, k_len - start);
            var part = 0.0;
            for (var jj = g; jj < len; jj += groups) {
                part += p_shared[jj] * f32(values[v_base + (start + jj) * v_row + c * v_col]);
            }
            acc = acc * scale + part;
        }
        m_run = m_new;
        workgroupBarrier();
    }

    scratch[t] = acc;
    workgroupBarrier();
    if t < d {
        var sum = 0.0;
        for (var gg = 0u; gg < groups; gg++) {
            sum += scratch[gg * d + t];
        }
        output[(bh * q_len + row) * d + t] = {{ io }}(sum / l_run);
    }
}
