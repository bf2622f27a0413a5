// Prepended to the scalar training attention kernels (forward, backward dq and dkv), after
// prelude.wgsl: dropout on the attention probabilities, as HF's eager T5Attention applies it
// in training (`dropout(softmax(S)) · V`), without a stored mask. Each draw is a hash of the
// call's seed, the (batch · heads) slice, the query row and the key, so the forward and both
// backward kernels recompute the same draws (src/kernels/attention_dropout.rs does the same
// on the host, for the references and the tests).
//
// Each kernel puts three words in its `info` uniform from DROPOUT_AT (a constant of its own):
// the seed, the drop threshold (rate · 2^32; 0: no dropout, every probability kept) and the
// kept probabilities' scale 1 / (1 - rate) as f32 bits.

// PCG's output permutation (O'Neill), as a 32-bit hash: one multiply-add, a data-dependent
// shift and one more multiply; every input bit reaches every output bit.
fn pcg_hash(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A query row's hash, mixed with each key by `dropout_scale`: computed once per row.
fn dropout_row(bh: u32, q_len: u32, row: u32) -> u32 {
    return pcg_hash(param(DROPOUT_AT) ^ pcg_hash(bh * q_len + row));
}

// What probability (row, key) is multiplied by: 0 where dropped, 1 / (1 - rate) where kept,
// 1 without dropout.
fn dropout_scale(row_hash: u32, key: u32) -> f32 {
    let threshold = param(DROPOUT_AT + 1u);
    if threshold == 0u {
        return 1.0;
    }
    if pcg_hash(row_hash ^ key) < threshold {
        return 0.0;
    }
    return bitcast<f32>(param(DROPOUT_AT + 2u));
}
