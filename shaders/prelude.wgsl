// Prepended to every kernel in shaders/ (src/kernels/wgsl.rs): what they all share.
//
// Every buffer of these kernels is declared read_write, inputs too: CubeCL suballocates
// tensors from shared pages, so an input and an output can sit in one wgpu buffer, and wgpu
// rejects a buffer bound both read-only and read-write in one dispatch. Each kernel declares
// its own `info` uniform (`array<vec4<u32>, N>`): shapes, then strides, read through `param`.

const MIN_F32: f32 = -3.40282346638528859812e+38f;

// The i-th u32 of the kernel's `info` uniform.
fn param(i: u32) -> u32 {
    return info[i / 4u][i % 4u];
}

// Where one strided tensor's (b, h) slice starts in its buffer, and its row and column
// strides: `info` holds, from index `first`, the tensor's b, h, row and col strides (a
// broadcast dim has stride 0).
struct View {
    base: u32,
    row: u32,
    col: u32,
}

fn view(first: u32, b: u32, h: u32) -> View {
    return View(b * param(first) + h * param(first + 1u), param(first + 2u), param(first + 3u));
}
