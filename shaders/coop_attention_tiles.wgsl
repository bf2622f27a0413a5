// Prepended to the cooperative-matrix attention kernels (coop_attention_*.wgsl), after
// prelude.wgsl: their tiling. A workgroup is SUBGROUPS subgroups of SG lanes; each subgroup
// owns T rows of the workgroup's block (queries for the forward and dq, keys for dkv), so a
// block is BR = SUBGROUPS · T rows, and walks the other side COLS at a time. Heads are D = 64
// wide (every T5 size). The tiles' products run on the cooperative matrices (f16 × f16,
// summed in f32); the softmax between them is scalar: LPR = SG / T lanes per row, all in the
// row's own subgroup, each taking every LPR-th column.
//
// Template values: t (8 or 16), subgroup_size (a multiple of t), subgroups, cols (a multiple
// of t, at most D).

const T: u32 = {{ t }}u;
const SG: u32 = {{ subgroup_size }}u;
const SUBGROUPS: u32 = {{ subgroups }}u;
const WG: u32 = SUBGROUPS * SG;
const BR: u32 = SUBGROUPS * T;
const COLS: u32 = {{ cols }}u;
const D: u32 = 64u;
const LPR: u32 = SG / T;
// Row pitches of the tiles in workgroup memory, 16 bytes past their rows (f16: 8 halves, f32:
// 4 floats): the lanes of a subgroup read (and write) T different rows at one column, which at
// a pitch of 64 or 32 elements would all fall in one memory bank; padded, rows start 4 banks
// apart. Every pitch stays a multiple of 16 bytes, as cooperative loads and stores want.
const HP: u32 = D + 8u;     // f16 rows of D (queries, keys, values, gradients; P and dS too)
const CP: u32 = COLS + 8u;  // f16 rows of COLS
const SP: u32 = COLS + 4u;  // f32 rows of COLS (scores)
const FP: u32 = D + 4u;     // f32 rows of D

alias TileA = coop_mat{{ t }}x{{ t }}<f16, A>;
alias TileB = coop_mat{{ t }}x{{ t }}<f16, B>;
alias TileC = coop_mat{{ t }}x{{ t }}<f32, C>;
