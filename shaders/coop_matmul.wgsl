// A matrix product on the device's cooperative matrices (tensor cores where the GPU has
// them):
//
//   C = A · B      A: [M, K] f16, B: [K, N] f16, C: [M, N] f16
//
// products in f16, sums in f32 (each output rounded once). A and B are read row-major or
// column-major (a transposed operand is a column-major one: xᵀ·dy and dy·Wᵀ need no copy),
// C is written row-major with its own row stride.
//
// The dispatch is (N / (TN·T), M / (TM·T)) workgroups, rounded up; a workgroup is
// one subgroup and computes a block of TM × TN tiles of T × T, walking K a tile at a time:
// per step it loads TM tiles of A and TN of B straight from global memory and does
// TM · TN multiply-adds, so each loaded tile is used TN (or TM) times. M, N and K are
// whole numbers of tiles (the host checks); a block that overhangs M or N reads the last
// tile again and does not store it, so every load stays in bounds. Each finished tile goes
// through workgroup memory (f32), from where the lanes round it to f16 and store it.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;` and prelude.wgsl (param).
// Template values: t (8 or 16, a size the device multiplies), tm, tn, workgroup_size (the
// subgroup size), a_row_major, b_row_major (true or false).

const T: u32 = {{ t }}u;
const TM: u32 = {{ tm }}u;
const TN: u32 = {{ tn }}u;
const WG: u32 = {{ workgroup_size }}u;
const A_ROW_MAJOR: bool = {{ a_row_major }};
const B_ROW_MAJOR: bool = {{ b_row_major }};

alias TileA = coop_mat{{ t }}x{{ t }}<f16, A>;
alias TileB = coop_mat{{ t }}x{{ t }}<f16, B>;
alias TileC = coop_mat{{ t }}x{{ t }}<f32, C>;

@group(0) @binding(0) var<storage, read_write> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> c: array<f16>;
// M, N, K, unused; A's, B's and C's row (or column) stride, unused.
@group(0) @binding(3) var<uniform> info: array<vec4<u32>, 2>;

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
    let row0 = group.y * (TM * T);
    let col0 = group.x * (TN * T);

    var acc: array<TileC, TM * TN>;
    var tiles_a: array<TileA, TM>;
    for (var kk = 0u; kk < k; kk += T) {
        for (var i = 0u; i < TM; i++) {
            tiles_a[i] = load_a(min(row0 + i * T, m - T), kk, lda);
        }
        for (var j = 0u; j < TN; j++) {
            let tile_b = load_b(kk, min(col0 + j * T, n - T), ldb);
            for (var i = 0u; i < TM; i++) {
                acc[i * TN + j] = coopMultiplyAdd(tiles_a[i], tile_b, acc[i * TN + j]);
            }
        }
    }

    for (var i = 0u; i < TM; i++) {
        let r = row0 + i * T;
        for (var j = 0u; j < TN; j++) {
            let col = col0 + j * T;
            if r < m && col < n {
                coopStoreT(acc[i * TN + j], &staged[0], T);
                workgroupBarrier();
                for (var e = lane; e < T * T; e += WG) {
                    c[(r + e / T) * ldc + col + e % T] = f16(staged[e]);
                }
                workgroupBarrier();
            }
        }
    }
}
