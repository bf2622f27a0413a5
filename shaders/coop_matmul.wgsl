// A matrix product on the device's cooperative matrices (tensor cores where the GPU has
// them):
//
//   C = A · B      A: [M, K] f16, B: [K, N] f16, C: [M, N] f16
//
// products in f16, sums in f32 (each output rounded once). A and B are read row-major or
// column-major (a transposed operand is a column-major one: xᵀ·dy and dy·Wᵀ need no copy),
// C is written row-major with its own row stride.
//
// The dispatch is (N / (TILES·T), M / (TILES·T)) workgroups, rounded up; a workgroup is
// one subgroup and computes a block of TILES × TILES tiles of T × T, walking K a tile at a
// time: per step it loads TILES tiles of A and TILES of B straight from global memory and
// does TILES² multiply-adds, so each loaded tile is used TILES times. M, N and K are
// whole numbers of tiles (the host checks); a block that overhangs M or N reads the last
// tile again and does not store it, so every load stays in bounds. Each finished tile goes
// through workgroup memory (f32), from where the lanes round it to f16 and store it.
//
// Split K: with `share` (param 3) non-zero, the workgroups in y are `parts` sets of the M
// blocks, set p summing K from p · share to (p + 1) · share only (a whole number of tiles)
// and storing its sums in f32 (`out` f32) to part p of C [parts, M, N]; sum_parts.wgsl adds
// them and rounds each to f16 after. For a weight's gradient (few outputs, K every token of
// the batch) that gives the GPU parts times the subgroups.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl (param) and
// coop_tiles.wgsl (T, TILES, the layouts, the tile types, C and `info`).
// Template value: workgroup_size (the subgroup size).

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> b: array<f16>;

var<workgroup> staged: array<f32, T * T>;
// Where this workgroup's part of C starts (split K; else 0).
var<private> base: u32;

// The A tile at rows r.., columns kk.. (coopLoadT reads a row-major tile, coopLoad a
// column-major one).
fn load_a(r: u32, kk: u32, lda: u32) -> TileA {
    if A_ROW_MAJOR {
        return coopLoadT<TileA>(&a[r * lda + kk], lda);
    }
    return coopLoad<TileA>(&a[kk * lda + r], lda);
}

// The B tile at rows kk.., columns col...
fn load_b(kk: u32, col: u32, ldb: u32) -> TileB {
    if B_ROW_MAJOR {
        return coopLoadT<TileB>(&b[kk * ldb + col], ldb);
    }
    return coopLoad<TileB>(&b[col * ldb + kk], ldb);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let m = param(0u);
    let n = param(1u);
    let lda = param(4u);
    let ldb = param(5u);
    let blocks_m = (m + TILES * T - 1u) / (TILES * T);
    let part = group.y / blocks_m;
    let row0 = (group.y % blocks_m) * (TILES * T);
    let col0 = group.x * (TILES * T);
    let share = select(param(3u), param(2u), param(3u) == 0u);
    let k0 = part * share;
    let k = min(k0 + share, param(2u));
    base = part * m * param(6u);

    // acc[4 · i + j]: the tile at rows row0 + i·T.., columns col0 + j·T... The loops over
    // the 4 × 4 tiles are written out: with every index a constant the tiles stay in
    // registers whether or not the driver unrolls loops (WGSL has no unroll hint).
    var acc: array<TileC, 16>;
    for (var kk = k0; kk < k; kk += T) {
        let a0 = load_a(min(row0, m - T), kk, lda);
        let a1 = load_a(min(row0 + T, m - T), kk, lda);
        let a2 = load_a(min(row0 + 2u * T, m - T), kk, lda);
        let a3 = load_a(min(row0 + 3u * T, m - T), kk, lda);
        {
            let b = load_b(kk, min(col0, n - T), ldb);
            acc[0] = coopMultiplyAdd(a0, b, acc[0]);
            acc[4] = coopMultiplyAdd(a1, b, acc[4]);
            acc[8] = coopMultiplyAdd(a2, b, acc[8]);
            acc[12] = coopMultiplyAdd(a3, b, acc[12]);
        }
        {
            let b = load_b(kk, min(col0 + T, n - T), ldb);
            acc[1] = coopMultiplyAdd(a0, b, acc[1]);
            acc[5] = coopMultiplyAdd(a1, b, acc[5]);
            acc[9] = coopMultiplyAdd(a2, b, acc[9]);
            acc[13] = coopMultiplyAdd(a3, b, acc[13]);
        }
        {
            let b = load_b(kk, min(col0 + 2u * T, n - T), ldb);
            acc[2] = coopMultiplyAdd(a0, b, acc[2]);
            acc[6] = coopMultiplyAdd(a1, b, acc[6]);
            acc[10] = coopMultiplyAdd(a2, b, acc[10]);
            acc[14] = coopMultiplyAdd(a3, b, acc[14]);
        }
        {
            let b = load_b(kk, min(col0 + 3u * T, n - T), ldb);
            acc[3] = coopMultiplyAdd(a0, b, acc[3]);
            acc[7] = coopMultiplyAdd(a1, b, acc[7]);
            acc[11] = coopMultiplyAdd(a2, b, acc[11]);
            acc[15] = coopMultiplyAdd(a3, b, acc[15]);
        }
    }

    store_tile(row0, col0, acc[0], lane);
    store_tile(row0, col0 + T, acc[1], lane);
    store_tile(row0, col0 + 2u * T, acc[2], lane);
    store_tile(row0, col0 + 3u * T, acc[3], lane);
    store_tile(row0 + T, col0, acc[4], lane);
    store_tile(row0 + T, col0 + T, acc[5], lane);
    store_tile(row0 + T, col0 + 2u * T, acc[6], lane);
    store_tile(row0 + T, col0 + 3u * T, acc[7], lane);
    store_tile(row0 + 2u * T, col0, acc[8], lane);
    store_tile(row0 + 2u * T, col0 + T, acc[9], lane);
    store_tile(row0 + 2u * T, col0 + 2u * T, acc[10], lane);
    store_tile(row0 + 2u * T, col0 + 3u * T, acc[11], lane);
    store_tile(row0 + 3u * T, col0, acc[12], lane);
    store_tile(row0 + 3u * T, col0 + T, acc[13], lane);
    store_tile(row0 + 3u * T, col0 + 2u * T, acc[14], lane);
    store_tile(row0 + 3u * T, col0 + 3u * T, acc[15], lane);
}

// The finished tile at rows r.., columns col.. into C through workgroup memory, where it
// lies inside C (the same for the whole workgroup, so the barriers are uniform).
fn store_tile(r: u32, col: u32, tile: TileC, lane: u32) {
    if r < param(0u) && col < param(1u) {
        let ldc = param(6u);
        coopStoreT(tile, &staged[0], T);
        workgroupBarrier();
        for (var e = lane; e < T * T; e += WG) {
            c[base + (r + e / T) * ldc + col + e % T] = Out(staged[e]);
        }
        workgroupBarrier();
    }
}
