// `coop_matmul.wgsl`'s product with its operands staged in workgroup memory: the variant to
// measure against it on GPUs where cooperative loads straight from global memory are slow
// (`MIXTUNE_COOP_STAGED=1`).
//
//   C = A · B      A: [M, K] f16, B: [K, N] f16, C: [M, N] f16, sums in f32
//
// A workgroup is four subgroups, 2 × 2, each computing 4 × 4 tiles of T × T: a block of
// 8T × 8T outputs (128 × 128 at T = 16). Per step of T along K, every thread copies its share
// of the block's A rows [8T × T] and B columns [T × 8T] from global memory into workgroup
// memory (consecutive threads read consecutive addresses, whichever way the operand is
// stored; an element past M, N or K reads as 0), then each subgroup loads its tiles from
// there: a global element is read once per workgroup instead of once per subgroup. Finished
// tiles go through each subgroup's own f32 area of workgroup memory, from where its lanes
// round them to f16 and store the elements inside C.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl (param) and
// coop_tiles.wgsl (T, TILES, the layouts, the tile types and the bindings).
// Template values: workgroup_size (4 × the subgroup size), subgroup_size.

const WG: u32 = {{ workgroup_size }}u;
const SG: u32 = {{ subgroup_size }}u;
// The block's side in elements: 2 × 2 subgroups of TILES × TILES tiles.
const BLOCK: u32 = 2u * TILES * T;

// The block's A rows [BLOCK × T] and B columns [T × BLOCK], both row-major.
var<workgroup> staged_a: array<f16, BLOCK * T>;
var<workgroup> staged_b: array<f16, T * BLOCK>;
// One T × T f32 tile per subgroup, on its way out.
var<workgroup> staged_c: array<f32, 4u * T * T>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) thread: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let m = param(0u);
    let n = param(1u);
    let k = param(2u);
    let lda = param(4u);
    let ldb = param(5u);
    let ldc = param(6u);
    let row0 = group.y * BLOCK;
    let col0 = group.x * BLOCK;
    // This subgroup's 4 × 4 tiles within the block.
    let sub_row = (subgroup / 2u) * TILES * T;
    let sub_col = (subgroup % 2u) * TILES * T;

    var acc: array<TileC, TILES * TILES>;
    for (var kk = 0u; kk < k; kk += T) {
        for (var e = thread; e < BLOCK * T; e += WG) {
            var r: u32;
            var x: u32;
            if A_ROW_MAJOR {
                r = e / T;
                x = e % T;
            } else {
                x = e / BLOCK;
                r = e % BLOCK;
            }
            var value = f16(0.0);
            if row0 + r < m && kk + x < k {
                if A_ROW_MAJOR {
                    value = a[(row0 + r) * lda + kk + x];
                } else {
                    value = a[(kk + x) * lda + row0 + r];
                }
            }
            staged_a[r * T + x] = value;
        }
        for (var e = thread; e < T * BLOCK; e += WG) {
            var x: u32;
            var col: u32;
            if B_ROW_MAJOR {
                x = e / BLOCK;
                col = e % BLOCK;
            } else {
                col = e / T;
                x = e % T;
            }
            var value = f16(0.0);
            if col0 + col < n && kk + x < k {
                if B_ROW_MAJOR {
                    value = b[(kk + x) * ldb + col0 + col];
                } else {
                    value = b[(col0 + col) * ldb + kk + x];
                }
            }
            staged_b[x * BLOCK + col] = value;
        }
        workgroupBarrier();
        var tiles_a: array<TileA, TILES>;
        for (var i = 0u; i < TILES; i++) {
            tiles_a[i] = coopLoadT<TileA>(&staged_a[(sub_row + i * T) * T], T);
        }
        for (var j = 0u; j < TILES; j++) {
            let tile_b = coopLoadT<TileB>(&staged_b[sub_col + j * T], BLOCK);
            for (var i = 0u; i < TILES; i++) {
                acc[i * TILES + j] = coopMultiplyAdd(tiles_a[i], tile_b, acc[i * TILES + j]);
            }
        }
        workgroupBarrier();
    }

    let out = subgroup * T * T;
    for (var i = 0u; i < TILES; i++) {
        for (var j = 0u; j < TILES; j++) {
            coopStoreT(acc[i * TILES + j], &staged_c[out], T);
            workgroupBarrier();
            let r = row0 + sub_row + i * T;
            let col = col0 + sub_col + j * T;
            for (var e = lane; e < T * T; e += SG) {
                if r + e / T < m && col + e % T < n {
                    c[(r + e / T) * ldc + col + e % T] = f16(staged_c[out + e]);
                }
            }
            workgroupBarrier();
        }
    }
}
