// Prepended to coop_matmul_staged.wgsl and tiled_matmul.wgsl: how their WG threads read a
// stage of a block's A rows [BLOCK × KS] and B columns [KS × BLOCK] from global memory, a
// `Piece` of four elements at a time along each operand's stored rows (consecutive threads
// on consecutive addresses, whichever way the operand is stored), into registers, zero past
// M, N or K.
//
// From the kernel: BLOCK, KS, WG, LOADS (pieces per thread per operand), A_ROW_MAJOR,
// B_ROW_MAJOR, the bindings `a` and `b` (arrays of Piece) and `param` (M, N, K at 0..2, A's
// and B's leading strides at 4 and 5).
// Template value: piece (vec4<f16> or vec4<f32>).

alias Piece = {{ piece }};

// Where piece `p` of a stage's A block lies: its row and K offset within the block. Pieces
// run along the stored rows: along K when A is row-major, along M when column-major.
fn piece_a(p: u32) -> vec2<u32> {
    if A_ROW_MAJOR {
        return vec2<u32>(p / (KS / 4u), (p % (KS / 4u)) * 4u);
    }
    return vec2<u32>((p % (BLOCK / 4u)) * 4u, p / (BLOCK / 4u));
}

// Where piece `p` of a stage's B block lies: its K offset and column within the block,
// along N when B is row-major, along K when column-major.
fn piece_b(p: u32) -> vec2<u32> {
    if B_ROW_MAJOR {
        return vec2<u32>(p / (BLOCK / 4u), (p % (BLOCK / 4u)) * 4u);
    }
    return vec2<u32>((p % (KS / 4u)) * 4u, p / (KS / 4u));
}

// This thread's pieces of the stage at `kk` of the block at (row0, col0), from global
// memory (zero past M, N or K).
fn fetch(
    next_a: ptr<function, array<Piece, LOADS>>,
    next_b: ptr<function, array<Piece, LOADS>>,
    thread: u32,
    row0: u32,
    col0: u32,
    kk: u32,
) {
    let m = param(0u);
    let n = param(1u);
    let k = param(2u);
    let lda = param(4u);
    let ldb = param(5u);
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_a(thread + i * WG);
        let r = row0 + at.x;
        let x = kk + at.y;
        var value = Piece();
        if r < m && x < k {
            if A_ROW_MAJOR {
                value = a[(r * lda + x) / 4u];
            } else {
                value = a[(x * lda + r) / 4u];
            }
        }
        (*next_a)[i] = value;
    }
    for (var i = 0u; i < LOADS; i++) {
        let at = piece_b(thread + i * WG);
        let x = kk + at.x;
        let col = col0 + at.y;
        var value = Piece();
        if x < k && col < n {
            if B_ROW_MAJOR {
                value = b[(x * ldb + col) / 4u];
            } else {
                value = b[(col * ldb + x) / 4u];
            }
        }
        (*next_b)[i] = value;
    }
}
