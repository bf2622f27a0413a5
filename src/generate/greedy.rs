//! Greedy decoding and sampling, one token per row per step, with the KV cache.

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;

use super::logits::{argmax, process_row, sample};
use super::{to_host_f32, GenerationConfig, GenerationDefaults};
use crate::error::Result;
use crate::model::t5::DecoderState;
use crate::model::T5ForConditionalGeneration;

/// Greedy (or, with `do_sample`, sampled) generation for `batch` rows of `state`.
pub fn greedy_or_sample(
    model: &T5ForConditionalGeneration,
    state: DecoderState,
    batch: usize,
    config: &GenerationConfig,
    defaults: &GenerationDefaults,
    vocab_limit: usize,
) -> Result<Vec<Vec<u32>>> {
    greedy_or_sample_streaming(
        model,
        state,
        batch,
        config,
        defaults,
        vocab_limit,
        &mut |_, _| {},
    )
}

/// [`greedy_or_sample`], calling `on_token(row, token)` as soon as each token is chosen (in
/// order per row; finished rows get no further calls). The tokens are the same.
pub fn greedy_or_sample_streaming(
    model: &T5ForConditionalGeneration,
    mut state: DecoderState,
    batch: usize,
    config: &GenerationConfig,
    defaults: &GenerationDefaults,
    vocab_limit: usize,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    let device = model.device();
    let start = defaults.decoder_start_token_id;
    let mut sequences: Vec<Vec<u32>> = vec![vec![start]; batch];
    let mut finished = vec![false; batch];
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut next: Vec<u32> = vec![start; batch];
    for _ in 0..config.max_new_tokens {
        let ids: Vec<i64> = next.iter().map(|&t| t as i64).collect();
        let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, 1]), &device);
        let logits = model.decode(input, &mut state);
        let vocab = logits.dims()[2];
        let scores = to_host_f32(logits.reshape([batch, vocab]))?;
        for (row, sequence) in sequences.iter_mut().enumerate() {
            if finished[row] {
                next[row] = defaults.pad_token_id;
                continue;
            }
            let mut row_scores = scores[row * vocab..(row + 1) * vocab].to_vec();
            process_row(&mut row_scores, sequence, config, defaults, vocab_limit);
            let token = if config.do_sample {
                sample(&row_scores, config, &mut rng)
            } else {
                argmax(&row_scores)
            } as u32;
            sequence.push(token);
            on_token(row, token);
            next[row] = token;
            finished[row] = defaults.eos_token_ids.contains(&token);
        }
        if finished.iter().all(|&f| f) {
            break;
        }
    }
    Ok(sequences)
}
