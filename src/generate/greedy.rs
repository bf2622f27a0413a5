//! Greedy decoding and sampling, one token per row per step, with the KV cache.
//!
//! Greedy steps stay on the device: the vocabulary limit and `min_new_tokens` mask the
//! logits there and `argmax` picks the tokens, which feed the next step directly; only the
//! chosen ids come back to the host, several steps at a time (to stop at `</s>`), or every
//! step when they are streamed.
//! Sampling and `no_repeat_ngram_size` need each row's history, so they read the scores.

use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;

use super::logits::{argmax, process_row, sample};
use super::Decoding;
use crate::error::Result;
use crate::model::t5::DecoderState;
use crate::model::{to_host_f32, to_host_ids, T5ForConditionalGeneration};

/// Greedy (or, with `do_sample`, sampled) generation for `batch` rows of `state`, calling
/// `on_token(row, token)` for each chosen token (in order per row; finished rows get no
/// further calls).
///
/// On the device path the chosen ids are read back every `sync_every` steps, in one read:
/// between reads the host queues the next steps while the device runs the last ones. Rows
/// that finish in between go on decoding, which changes nothing (rows never see each other,
/// and tokens after `</s>` are dropped); at most `sync_every - 1` steps are spent after the
/// last row finishes. `sync_every = 1` reports every token as soon as it is chosen.
pub fn greedy_or_sample(
    model: &T5ForConditionalGeneration,
    mut state: DecoderState,
    batch: usize,
    decoding: Decoding,
    sync_every: usize,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Vec<Vec<u32>>> {
    let Decoding {
        config, defaults, ..
    } = decoding;
    let device = model.device();
    let start = defaults.decoder_start_token_id;
    let on_device = !config.do_sample && config.no_repeat_ngram_size == 0;
    let sync_every = if on_device { sync_every.max(1) } else { 1 };
    let mut sequences: Vec<Vec<u32>> = vec![vec![start]; batch];
    let mut finished = vec![false; batch];
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut next = Tensor::<2, Int>::from_data(
        TensorData::new(vec![start as i64; batch], [batch, 1]),
        &device,
    );
    // Chosen ids `[batch, 1]` of the steps since the last read.
    let mut pending: Vec<Tensor<2, Int>> = Vec::with_capacity(sync_every);
    for step in 0..config.max_new_tokens {
        let logits = model.decode(next, &mut state);
        let vocab = logits.dims()[2];
        let scores = logits.reshape([batch, vocab]);
        // Columns of token ids, one per step, to hand out in order.
        let columns: Vec<Vec<u32>> = if on_device {
            let chosen = device_argmax(scores, step, decoding);
            pending.push(chosen.clone());
            next = chosen;
            let last = step + 1 == config.max_new_tokens;
            if pending.len() < sync_every && !last {
                continue;
            }
            let steps = pending.len();
            let ids = to_host_ids(Tensor::cat(std::mem::take(&mut pending), 1))?;
            (0..steps)
                .map(|s| (0..batch).map(|row| ids[row * steps + s]).collect())
                .collect()
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
            vec![tokens]
        };
        for tokens in columns {
            for (row, sequence) in sequences.iter_mut().enumerate() {
                if finished[row] {
                    continue;
                }
                let token = tokens[row];
                sequence.push(token);
                on_token(row, token);
                finished[row] = defaults.eos_token_ids.contains(&token);
            }
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
