// `coop_matmul.wgsl`'s product with its operands staged in workgroup memory: the variant to
// measure against it on GPUs where cooperative loads straight from global memory are slow
// (`MIXTUNE_COOP_STAGED=1`).
//
//   C = A · B      A: [M, K] f16, B: [K, N] f16, C: [M, N] f16, sums in f32
//
// A workgroup is four subgroups, 2 × 2, each computing 4 × 4 tiles of T × T: a block of
// 8T × 8T outputs (128 × 128 at T = 16). K is walked in stages of KS = 32 (two tiles at
// T = 16, four at 8). Per stage every thread copies its share of the block's A rows
// [BLOCK × KS] and B columns [KS × BLOCK] into workgroup memory, then each subgroup loads its
// tiles from there: a global element is read once per workgroup instead of once per
// subgroup. What llama.cpp's Vulkan `coopmat` kernels do, in the same ways:
// - global memory is read four f16 at a time (`vec4<f16>`, a quarter of the load
//   instructions), consecutive threads on consecutive addresses whichever way the operand
//   is stored;
// - the next stage's reads are issued before this stage's multiply-adds, into registers
//   (`next_a`, `next_b`), so their latency passes while the tensor cores work;
// - the staged rows are padded by 8 elements (16 bytes), so the 8 rows of an 8 × 8 piece
//   of a tile start in different shared-memory banks (unpadded, B's rows of 256 bytes all
//   started in the same one).
// An element past M, N or K reads as 0 (a piece of four is wholly inside or outside: M, N
// and K are whole tiles of at least 8, and the host reads operands whose leading stride is a
// multiple of 8). Finished tiles go through each subgroup's own f32 area of workgroup
// memory, from where its lanes round them to f16 and store the elements inside C.
//
// Prepended: `enable f16; enable wgpu_cooperative_matrix;`, prelude.wgsl (param),
// coop_tiles.wgsl (T, TILES, the layouts, the tile types, C and `info`) and
// staged_pieces.wgsl (`fetch`: a stage's pieces from global memory, `Piece` = vec4<f16>).
// Template values: workgroup_size (4 × the subgroup size), subgroup_size.

const WG: u32 = {{ workgroup_size }}u;
const SG: u32 = {{ subgroup_size }}u;
// The block's side in elements: 2 × 2 subgroups of TILES × TILES tiles.
const BLOCK: u32 = 2u * TILES * T;
// K per stage.
const KS: u32 = 32u;
// Row strides of the staged A [BLOCK × KS] and B [KS × BLOCK], padded (see above).
const SA: u32 = KS + 8u;
const SB: u32 = BLOCK + 8u;
// Pieces of four elements each thread reads per operand per stage (a whole number: the
// host picks workgroups of 4 · SG threads with 16 · T a multiple of SG).
const LOADS: u32 = BLOCK * KS / (4u * WG);

// A and B four elements at a time (their bindings hold f16; offsets and strides are
// multiples of 4).
@group(0) @binding(0) var<storage, read_write> a: array<Piece>;
@group(0) @binding(1) var<storage, read_write> b: array<Piece>;

var<workgroup> staged_a: array<f16, BLOCK * SA>;
var<workgroup> staged_b: array<f16, KS * SB>;
// One T × T f32 tile per subgroup, on its way out.
var<workgroup> staged_c: array<f32, 4u * T * T>;

// This thread's fetched pieces into the staged blocks.
fn stage(
    next_a: ptr<function, array<Piece, LOADS>>,
    next_b: ptr<function, array<Piece, LOADS>>,
    thread: u32,
) {
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_a(thread + i * WG);
        let value = (*next_a)[i];
        for (var j = 0u; j < 4u; j++) {
            if A_ROW_MAJOR {
                staged_a[at.x * SA + at.y + j] = value[j];
            } else {
                staged_a[(at.x + j) * SA + at.y] = value[j];
            }
        }
    }
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_b(thread + i * WG);
        let value = (*next_b)[i];
        for (var j = 0u; j < 4u; j++) {
            if B_ROW_MAJOR {
                staged_b[at.x * SB + at.y + j] = value[j];
            } else {
                staged_b[(at.x + j) * SB + at.y] = value[j];
            }
        }
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) thread: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let k = param(2u);
    let row0 = group.y * BLOCK;
    let col0 = group.x * BLOCK;
    // This subgroup's 4 × 4 tiles within the block.
    let sub_row = (subgroup / 2u) * TILES * T;
    let sub_col = (subgroup % 2u) * TILES * T;

    // acc[4 · i + j]: the subgroup's tile at rows sub_row + i·T.., columns sub_col + j·T...
    // Its loops are written out, as in coop_matmul.wgsl: constant indices keep the tiles in
    // registers whether or not the driver unrolls loops.
    var acc: array<TileC, 16>;
    var next_a: array<Piece, LOADS>;
    var next_b: array<Piece, LOADS>;
    fetch(&next_a, &next_b, thread, row0, col0, 0u);
    for (var kk = 0u; kk < k; kk += KS) {
        stage(&next_a, &next_b, thread);
        workgroupBarrier();
        if kk + KS < k {
            fetch(&next_a, &next_b, thread, row0, col0, kk + KS);
        }
        // The stage's tiles of K (fewer in a last stage that K ends inside).
        let depth = min(KS, k - kk);
        for (var kt = 0u; kt < depth; kt += T) {
            let a0 = coopLoadT<TileA>(&staged_a[sub_row * SA + kt], SA);
            let a1 = coopLoadT<TileA>(&staged_a[(sub_row + T) * SA + kt], SA);
            let a2 = coopLoadT<TileA>(&staged_a[(sub_row + 2u * T) * SA + kt], SA);
            let a3 = coopLoadT<TileA>(&staged_a[(sub_row + 3u * T) * SA + kt], SA);
            {
                let b = coopLoadT<TileB>(&staged_b[kt * SB + sub_col], SB);
                acc[0] = coopMultiplyAdd(a0, b, acc[0]);
                acc[4] = coopMultiplyAdd(a1, b, acc[4]);
                acc[8] = coopMultiplyAdd(a2, b, acc[8]);
                acc[12] = coopMultiplyAdd(a3, b, acc[12]);
            }
            {
                let b = coopLoadT<TileB>(&staged_b[kt * SB + sub_col + T], SB);
                acc[1] = coopMultiplyAdd(a0, b, acc[1]);
                acc[5] = coopMultiplyAdd(a1, b, acc[5]);
                acc[9] = coopMultiplyAdd(a2, b, acc[9]);
                acc[13] = coopMultiplyAdd(a3, b, acc[13]);
            }
            {
                let b = coopLoadT<TileB>(&staged_b[kt * SB + sub_col + 2u * T], SB);
                acc[2] = coopMultiplyAdd(a0, b, acc[2]);
                acc[6] = coopMultiplyAdd(a1, b, acc[6]);
                acc[10] = coopMultiplyAdd(a2, b, acc[10]);
                acc[14] = coopMultiplyAdd(a3, b, acc[14]);
            }
            {
                let b = coopLoadT<TileB>(&staged_b[kt * SB + sub_col + 3u * T], SB);
                acc[3] = coopMultiplyAdd(a0, b, acc[3]);
                acc[7] = coopMultiplyAdd(a1, b, acc[7]);
                acc[11] = coopMultiplyAdd(a2, b, acc[11]);
                acc[15] = coopMultiplyAdd(a3, b, acc[15]);
            }
        }
        workgroupBarrier();
    }

    let r0 = row0 + sub_row;
    let c0 = col0 + sub_col;
    store_tile(r0, c0, acc[0], subgroup, lane);
    store_tile(r0, c0 + T, acc[1], subgroup, lane);
    store_tile(r0, c0 + 2u * T, acc[2], subgroup, lane);
    store_tile(r0, c0 + 3u * T, acc[3], subgroup, lane);
    store_tile(r0 + T, c0, acc[4], subgroup, lane);
    store_tile(r0 + T, c0 + T, acc[5], subgroup, lane);
    store_tile(r0 + T, c0 + 2u * T, acc[6], subgroup, lane);
    store_tile(r0 + T, c0 + 3u * T, acc[7], subgroup, lane);
    store_tile(r0 + 2u * T, c0, acc[8], subgroup, lane);
    store_tile(r0 + 2u * T, c0 + T, acc[9], subgroup, lane);
    store_tile(r0 + 2u * T, c0 + 2u * T, acc[10], subgroup, lane);
    store_tile(r0 + 2u * T, c0 + 3u * T, acc[11], subgroup, lane);
    store_tile(r0 + 3u * T, c0, acc[12], subgroup, lane);
    store_tile(r0 + 3u * T, c0 + T, acc[13], subgroup, lane);
    store_tile(r0 + 3u * T, c0 + 2u * T, acc[14], subgroup, lane);
    store_tile(r0 + 3u * T, c0 + 3u * T, acc[15], subgroup, lane);
}

// The subgroup's finished tile at rows r.., columns col.. through its own area of workgroup
// memory, its elements inside C into C. Every subgroup calls it alike (the barriers).
fn store_tile(r: u32, col: u32, tile: TileC, subgroup: u32, lane: u32) {
    let m = param(0u);
    let n = param(1u);
    let ldc = param(6u);
    let out = subgroup * T * T;
    coopStoreT(tile, &staged_c[out], T);
    workgroupBarrier();
    for (var e = lane; e < T * T; e += SG) {
        if r + e / T < m && col + e % T < n {
            c[(r + e / T) * ldc + col + e % T] = Out(staged_c[out + e]);
        }
    }
    workgroupBarrier();
}
