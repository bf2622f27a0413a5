// An f32 matrix product on the GPU's scalar cores, register-tiled: the variant of Burn's f32
// matmul to measure against it (`MIXTUNE_F32_GEMM=1`; Burn's reached ~15 TFLOP/s of an
// H200's ~67, cuBLAS ~51).
//
//   C = A · B      A: [M, K] f32, B: [K, N] f32, C: [M, N] f32
//
// A and B are read row-major or column-major (a transposed operand is a column-major one:
// xᵀ·dy and dy·Wᵀ need no copy); C is written row-major with its own row stride.
//
// A workgroup is 16 × 16 threads and computes a block of 128 × 128 outputs, 8 × 8 per thread:
// rows 4·ty.. and 64 + 4·ty.., columns 4·tx.. and 64 + 4·tx.. (four apart as two runs of
// four, so that eight neighbouring threads read 128 contiguous bytes of workgroup memory and
// write C in whole 16-byte pieces). The narrow variant (block 64) computes 64 × 64, 4 × 4
// per thread (the first run of each): four times the workgroups, for products whose outputs
// are too few to fill the GPU with 128-wide blocks. K is walked in stages of 16: per stage
// every thread copies LOADS four-element pieces of the block's A rows [BLOCK × 16] and as
// many of its B columns [16 × BLOCK] from global memory (`vec4<f32>`, consecutive threads on consecutive addresses
// whichever way the operand is stored) into workgroup memory, A as Aᵀ (K-major, so a thread
// reads its eight rows' values at one K as two vec4), then each thread does 16 × 64
// multiply-adds from there, reading 4 vec4 per 64. The next stage's pieces are read into
// registers before this stage's multiply-adds, so their latency passes behind them (one
// workgroup memory, two barriers a stage). M, N and K are multiples of 4 and the operands'
// leading strides multiples of 8 (the host checks), so a piece of four is wholly inside or
// outside the matrix: outside reads as 0 and is not stored.
//
// Split K: with `share` (param 3) non-zero, the workgroups in y are `parts` sets of the M
// blocks, set p summing K from p · share to (p + 1) · share only (share is a multiple of 16,
// so no stage straddles two parts) and writing its partial sums to part p of C
// [parts, M, N]; sum_parts.wgsl adds them after. For a weight's gradient (few outputs, K all
// of the batch's tokens) that gives the GPU parts times the workgroups.
//
// What the register-tiled SGEMMs of CUTLASS's SIMT path and of the WebGPU ports of them do;
// how well the driver keeps the 64 sums in registers is what the GPU measurement tells.
//
// Prepended: prelude.wgsl (param) and staged_pieces.wgsl (`fetch`: a stage's pieces from
// global memory, `Piece` = vec4<f32>).
// Template values: a_row_major, b_row_major, block (128 or 64).

const A_ROW_MAJOR: bool = {{ a_row_major }};
const B_ROW_MAJOR: bool = {{ b_row_major }};
// Threads per side of the workgroup, outputs per side of the block, K per stage.
const SIDE: u32 = 16u;
const BLOCK: u32 = {{ block }}u;
const KS: u32 = 16u;
const WG: u32 = SIDE * SIDE;
// Whether a thread computes 8 × 8 outputs (block 128), else 4 × 4 (block 64).
const WIDE: bool = BLOCK == 128u;
// Four-element pieces each thread reads per operand per stage: BLOCK · 16 / 4 / 256.
const LOADS: u32 = BLOCK * KS / (4u * WG);

@group(0) @binding(0) var<storage, read_write> a: array<Piece>;
@group(0) @binding(1) var<storage, read_write> b: array<Piece>;
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
// M, N, K, each part's share of K (0: no split); A's, B's and C's row (or column) stride,
// unused.
@group(0) @binding(3) var<uniform> info: array<vec4<u32>, 2>;

// The stage's A as Aᵀ [KS × BLOCK] and B [KS × BLOCK], four elements to a slot.
var<workgroup> staged_a: array<vec4<f32>, KS * BLOCK / 4u>;
var<workgroup> staged_b: array<vec4<f32>, KS * BLOCK / 4u>;

// One element into the staged Aᵀ at (K offset `x`, block row `row`), or into the staged B
// at (K offset `x`, block column `col`).
fn put_a(x: u32, row: u32, value: f32) {
    staged_a[(x * BLOCK + row) / 4u][row % 4u] = value;
}

fn put_b(x: u32, col: u32, value: f32) {
    staged_b[(x * BLOCK + col) / 4u][col % 4u] = value;
}

// This thread's fetched pieces into the staged blocks (A transposed).
fn stage(
    next_a: ptr<function, array<Piece, LOADS>>,
    next_b: ptr<function, array<Piece, LOADS>>,
    thread: u32,
) {
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_a(thread + i * WG);
        let value = (*next_a)[i];
        if A_ROW_MAJOR {
            // Four K offsets of one row: four scalars down a column of Aᵀ.
            for (var j = 0u; j < 4u; j++) {
                put_a(at.y + j, at.x, value[j]);
            }
        } else {
            // Four rows at one K offset: one slot of Aᵀ.
            staged_a[(at.y * BLOCK + at.x) / 4u] = value;
        }
    }
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_b(thread + i * WG);
        let value = (*next_b)[i];
        if B_ROW_MAJOR {
            staged_b[(at.x * BLOCK + at.y) / 4u] = value;
        } else {
            for (var j = 0u; j < 4u; j++) {
                put_b(at.x + j, at.y, value[j]);
            }
        }
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_index) thread: u32,
) {
    let blocks_m = (param(0u) + BLOCK - 1u) / BLOCK;
    let part = group.y / blocks_m;
    let row0 = (group.y % blocks_m) * BLOCK;
    let col0 = group.x * BLOCK;
    let share = select(param(3u), param(2u), param(3u) == 0u);
    let k0 = part * share;
    let k = min(k0 + share, param(2u));
    let tx = thread % SIDE;
    let ty = thread / SIDE;

    // acc[2 · i + h]: the thread's row 4·ty + i (i < 4) or 64 + 4·ty + i - 4 (i ≥ 4),
    // columns 4·tx.. (h = 0) or 64 + 4·tx.. (h = 1).
    var acc: array<vec4<f32>, 16>;
    var next_a: array<Piece, LOADS>;
    var next_b: array<Piece, LOADS>;
    fetch(&next_a, &next_b, thread, row0, col0, k0);
    for (var kk = k0; kk < k; kk += KS) {
        stage(&next_a, &next_b, thread);
        workgroupBarrier();
        if kk + KS < k {
            fetch(&next_a, &next_b, thread, row0, col0, kk + KS);
        }
        for (var x = 0u; x < KS; x++) {
            let slot = x * (BLOCK / 4u);
            let a0 = staged_a[slot + ty];
            let b0 = staged_b[slot + tx];
            // Written out: with every index a constant the sums stay in registers whether
            // or not the driver unrolls loops (one index not known at compile time can put
            // the whole array in memory).
            acc[0] += a0.x * b0;
            acc[2] += a0.y * b0;
            acc[4] += a0.z * b0;
            acc[6] += a0.w * b0;
            if WIDE {
                let a1 = staged_a[slot + 16u + ty];
                let b1 = staged_b[slot + 16u + tx];
                acc[1] += a0.x * b1;
                acc[3] += a0.y * b1;
                acc[5] += a0.z * b1;
                acc[7] += a0.w * b1;
                acc[8] += a1.x * b0;
                acc[9] += a1.x * b1;
                acc[10] += a1.y * b0;
                acc[11] += a1.y * b1;
                acc[12] += a1.z * b0;
                acc[13] += a1.z * b1;
                acc[14] += a1.w * b0;
                acc[15] += a1.w * b1;
            }
        }
        workgroupBarrier();
    }

    // Written out too, for the same reason. Part p's sums go to C's p-th [M, N].
    let base = part * param(0u) * param(6u);
    let r0 = row0 + 4u * ty;
    let r1 = r0 + 64u;
    let c0 = col0 + 4u * tx;
    let c1 = c0 + 64u;
    store(base, r0, c0, acc[0]);
    store(base, r0 + 1u, c0, acc[2]);
    store(base, r0 + 2u, c0, acc[4]);
    store(base, r0 + 3u, c0, acc[6]);
    if WIDE {
        store(base, r0, c1, acc[1]);
        store(base, r0 + 1u, c1, acc[3]);
        store(base, r0 + 2u, c1, acc[5]);
        store(base, r0 + 3u, c1, acc[7]);
        store(base, r1, c0, acc[8]);
        store(base, r1, c1, acc[9]);
        store(base, r1 + 1u, c0, acc[10]);
        store(base, r1 + 1u, c1, acc[11]);
        store(base, r1 + 2u, c0, acc[12]);
        store(base, r1 + 2u, c1, acc[13]);
        store(base, r1 + 3u, c0, acc[14]);
        store(base, r1 + 3u, c1, acc[15]);
    }
}

// Four outputs of row `r` from column `col` into C from element `base`, where inside it.
fn store(base: u32, r: u32, col: u32, value: vec4<f32>) {
    if r < param(0u) && col < param(1u) {
        c[(base + r * param(6u) + col) / 4u] = value;
    }
}
