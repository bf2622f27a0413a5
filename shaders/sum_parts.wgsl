// The partial sums of a split-K product added up (tiled_matmul.wgsl with a share of K):
//
//   out[i] = Σ_p parts[p · len + i]      parts: [parts, len] f32, out: [len] f32 or f16
//
// four elements a thread (len, a product's M · N with N a multiple of 4, is one too), the
// parts added in order, so the result does not depend on the workgroups' timing; an f16
// output (the cooperative-matrix product's) is rounded once, from the f32 sum.
//
// Prepended: `enable f16;` for an f16 output, prelude.wgsl (param).
// Template value: out (f32 or f16).

@group(0) @binding(0) var<storage, read_write> parts: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<{{ out }}>>;
// len, parts, unused, unused.
@group(0) @binding(2) var<uniform> info: array<vec4<u32>, 1>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) thread: u32,
) {
    let slots = param(0u) / 4u;
    let i = (group.y * groups.x + group.x) * WG + thread;
    if i >= slots {
        return;
    }
    var sum = parts[i];
    for (var p = 1u; p < param(1u); p++) {
        sum += parts[p * slots + i];
    }
    out[i] = vec4<{{ out }}>(sum);
}
