// Prepended to coop_matmul.wgsl and coop_matmul_staged.wgsl (src/kernels/coop_matmul.rs):
// what the two cooperative-matrix products share. Template values: t (8 or 16, a tile size
// the device multiplies), tiles (a subgroup's tiles per side), a_row_major, b_row_major, out
// (C's element: f16, or f32 for a split product's partial sums).

const T: u32 = {{ t }}u;
const TILES: u32 = {{ tiles }}u;
// The kernels write their 4 × 4 tiles out one by one (constant indices: see coop_matmul.wgsl).
const_assert TILES == 4u;
const A_ROW_MAJOR: bool = {{ a_row_major }};
const B_ROW_MAJOR: bool = {{ b_row_major }};

alias TileA = coop_mat{{ t }}x{{ t }}<f16, A>;
alias TileB = coop_mat{{ t }}x{{ t }}<f16, B>;
alias TileC = coop_mat{{ t }}x{{ t }}<f32, C>;

// A (binding 0) and B (binding 1) are declared by each kernel: f16 elements, or four at a
// time.
alias Out = {{ out }};
@group(0) @binding(2) var<storage, read_write> c: array<Out>;
// M, N, K, each part's share of K (0: no split; coop_matmul.wgsl); A's, B's and C's row (or
// column) stride, unused.
@group(0) @binding(3) var<uniform> info: array<vec4<u32>, 2>;
