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
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl (param) and
// coop_tiles.wgsl (T, TILES, the layouts, the tile types, C and `info`).
// Template value: workgroup_size (the subgroup size).

const WG: u32 = {{ workgroup_size }}u;

@group(0) @binding(0) var<storage, read_write> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> b: array<f16>;

var<workgroup> staged: array<f32, T * T>;

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
    let k = param(2u);
    let lda = param(4u);
    let ldb = param(5u);
    let ldc = param(6u);
    let row0 = group.y * (TILES * T);
    let col0 = group.x * (TILES * T);

    var acc: array<TileC, TILES * TILES>;
    var tiles_a: array<TileA, TILES>;
    for (var kk = 0u; kk < k; kk += T) {
        for (var i = 0u; i < TILES; i++) {
            tiles_a[i] = load_a(min(row0 + i * T, m - T), kk, lda);
        }
        for (var j = 0u; j < TILES; j++) {
            let tile_b = load_b(kk, min(col0 + j * T, n - T), ldb);
            for (var i = 0u; i < TILES; i++) {
                acc[i * TILES + j] = coopMultiplyAdd(tiles_a[i], tile_b, acc[i * TILES + j]);
            }
        }
    }

    for (var i = 0u; i < TILES; i++) {
        let r = row0 + i * T;
        for (var j = 0u; j < TILES; j++) {
            let col = col0 + j * T;
            if r < m && col < n {
                coopStoreT(acc[i * TILES + j], &staged[0], T);
                workgroupBarrier();
                for (var e = lane; e < T * T; e += WG) {
                    c[(r + e / T) * ldc + col + e % T] = f16(staged[e]);
                }
                workgroupBarrier();
            }
        }
    }
}
