//! Greedy decoding and sampling, one token per row per step, with the KV cache.
//!
//! Greedy steps stay on the device: the vocabulary limit and `min_new_tokens` mask the
//! logits there and `argmax` picks the tokens, which feed the next step directly; only the
//! chosen ids come back to the host (one sync per step, to stop at `</s>` and stream them).
//! Sampling and `no_repeat_ngram_size` need each row's history, so they read the scores.

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;

use super::logits::{argmax, process_row, sample};
use super::Decoding;
use crate::error::{MixtuneError, Result};
use crate::model::t5::DecoderState;
use crate::model::{to_host_f32, T5ForConditionalGeneration};

/// Greedy (or, with `do_sample`, sampled) generation for `batch` rows of `state`, calling
/// `on_token(row, token)` as soon as each token is chosen (in order per row; finished rows
/// get no further calls).
pub fn greedy_or_sample(
    model: &T5ForConditionalGeneration,
    mut state: DecoderState,
    batch: usize,
    decoding: Decoding,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    let Decoding {
        config, defaults, ..
    } = decoding;
    let device = model.device();
    let start = defaults.decoder_start_token_id;
    let on_device = !config.do_sample && config.no_repeat_ngram_size == 0;
    let mut sequences: Vec<Vec<u32>> = vec![vec![start]; batch];
    let mut finished = vec![false; batch];
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut next = Tensor::<2, Int>::from_data(
        TensorData::new(vec![start as i64; batch], [batch, 1]),
        &device,
    );
    for step in 0..config.max_new_tokens {
        let logits = model.decode(next, &mut state);
        let vocab = logits.dims()[2];
        let scores = logits.reshape([batch, vocab]);
        let tokens: Vec<u32> = if on_device {
            let chosen = device_argmax(scores, step, decoding);
            let ids = to_host_ids(chosen.clone())?;
            // Finished rows go on decoding whatever they chose; their outputs are
            // already complete and rows never see each other.
            next = chosen;
            ids
        } else {
            let scores = to_host_f32(scores)?;
            let tokens: Vec<u32> = sequences
                .iter()
                .enumerate()
                .map(|(row, sequence)| {
                    let mut row_scores = scores[row * vocab..(row + 1) * vocab].to_vec();
                    process_row(&mut row_scores, sequence, decoding);
                    (if config.do_sample {
                        sample(&row_scores, config, &mut rng)
                    } else {
                        argmax(&row_scores)
                    }) as u32
                })
                .collect();
            let ids = tokens.iter().map(|&t| t as i64).collect();
            next = Tensor::from_data(TensorData::new(ids, [batch, 1]), &device);
            tokens
        };
        for (row, sequence) in sequences.iter_mut().enumerate() {
            if finished[row] {
                continue;
            }
            let token = tokens[row];
            sequence.push(token);
            on_token(row, token);
            finished[row] = defaults.eos_token_ids.contains(&token);
        }
        if finished.iter().all(|&f| f) {
            break;
        }
    }
    Ok(sequences)
}

/// The greedy choice `[batch, 1]` of `scores` `[batch, vocab]` at generation step `step`,
/// on the device: ids past the vocabulary limit are cut off, `</s>` is masked before
/// `min_new_tokens`, as [`process_row`] does on the host.
fn device_argmax(scores: Tensor<2>, step: usize, decoding: Decoding) -> Tensor<2, Int> {
    let [batch, vocab] = scores.dims();
    let limit = decoding.vocab_limit.clamp(1, vocab);
    let mut scores = scores.slice([0..batch, 0..limit]);
    if step < decoding.config.min_new_tokens {
        for &eos in &decoding.defaults.eos_token_ids {
            let eos = eos as usize;
            if eos < limit {
                scores = scores.slice_fill([0..batch, eos..eos + 1], f32::NEG_INFINITY);
            }
        }
    }
    scores.argmax(1)
}

/// Token ids to the host (one device sync).
fn to_host_ids(ids: Tensor<2, Int>) -> Result<Vec<u32>> {
    let values = ids
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| MixtuneError::Backend(format!("{e:?}")))?;
    Ok(values.into_iter().map(|id| id as u32).collect())
}
