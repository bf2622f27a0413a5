// Prepended to the training kernels (forward, backward dq and dkv), after prelude.wgsl: their
// common tiling. A workgroup is TX × TY = 16 × 8 threads; rows of D floats are held in
// workgroup memory as D4 vec4 columns, a thread owning columns (tx + 16u)·4 .. +3 for u < DU.
//
// Template value: d (head size, a multiple of 64).

const D: u32 = {{ d }}u;
const D4: u32 = D / 4u;
const TX: u32 = 16u;
const TY: u32 = 8u;
const THREADS: u32 = TX * TY;
const DU: u32 = D / 64u;

// Index of vec4 column c4 of tile row `row`, XOR-swizzled by row so that 16 threads reading
// 16 different rows hit different banks.
fn swizzled(row: u32, c4: u32) -> u32 {
    return row * D4 + (c4 ^ (row & 15u));
}
