//! Beam search, step for step as HF transformers' `_beam_search` (top `2 * num_beams`
//! candidates, finished hypotheses scored `logprob / generated_len ^ length_penalty`,
//! the early-stopping heuristic), so token ids agree with the reference.

use burn::tensor::{Int, Tensor, TensorData};

use super::logits::{log_softmax, process_row};
use super::{Decoding, EarlyStopping};
use crate::error::Result;
use crate::model::t5::DecoderState;
use crate::model::to_host_f32;
use crate::model::T5ForConditionalGeneration;

/// HF's stand-in for minus infinity in beam bookkeeping.
const NEG: f32 = -1.0e9;

#[derive(Clone, Debug)]
struct Hypothesis {
    tokens: Vec<u32>,
    score: f32,
}

/// One input's beams.
struct BeamGroup {
    running: Vec<Hypothesis>,
    finished: Vec<Hypothesis>,
    is_finished: Vec<bool>,
    improvable: bool,
}

/// Indices of the `k` largest values, largest first.
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    let cmp = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    if k < order.len() {
        order.select_nth_unstable_by(k, cmp);
        order.truncate(k);
    }
    order.sort_by(cmp);
    order
}

/// Beam search over `batch` inputs whose encoder state is in `state`.
pub fn beam_search(
    model: &T5ForConditionalGeneration,
    state: DecoderState,
    batch: usize,
    decoding: Decoding,
) -> Result<Vec<Vec<u32>>> {
    let Decoding {
        config, defaults, ..
    } = decoding;
    let device = model.device();
    let num_beams = config.num_beams;
    let eos = &defaults.eos_token_ids;
    let beams_to_keep = 2.max(1 + eos.len()) * num_beams;
    let prompt_len = 1usize;
    let max_length = prompt_len + config.max_new_tokens;
    let lp = config.length_penalty;

    let expand: Vec<i64> = (0..batch * num_beams)
        .map(|r| (r / num_beams) as i64)
        .collect();
    let mut state = state.select_rows(Tensor::<1, Int>::from_data(
        TensorData::new(expand, [batch * num_beams]),
        &device,
    ));
    let start = Hypothesis {
        tokens: vec![defaults.decoder_start_token_id],
        score: 0.0,
    };
    let mut groups: Vec<BeamGroup> = (0..batch)
        .map(|_| BeamGroup {
            running: (0..num_beams)
                .map(|b| Hypothesis {
                    score: if b == 0 { 0.0 } else { NEG },
                    ..start.clone()
                })
                .collect(),
            finished: vec![
                Hypothesis {
                    tokens: vec![],
                    score: NEG
                };
                num_beams
            ],
            is_finished: vec![false; num_beams],
            improvable: true,
        })
        .collect();

    let mut cur_len = prompt_len;
    loop {
        let last: Vec<i64> = groups
            .iter()
            .flat_map(|g| {
                g.running
                    .iter()
                    .map(|h| h.tokens[h.tokens.len() - 1] as i64)
            })
            .collect();
        let rows = batch * num_beams;
        let input = Tensor::<2, Int>::from_data(TensorData::new(last, [rows, 1]), &device);
        let logits = model.decode(input, &mut state);
        let vocab = logits.dims()[2];
        let scores = to_host_f32(logits.reshape([rows, vocab]))?;

        let mut parents = Vec::with_capacity(rows);
        let mut all_hit_stop = true;
        for (g, group) in groups.iter_mut().enumerate() {
            // a. accumulated log-probabilities of every continuation of every beam
            let mut accumulated = Vec::with_capacity(num_beams * vocab);
            for (b, hyp) in group.running.iter().enumerate() {
                let row = g * num_beams + b;
                let mut log_probs = scores[row * vocab..(row + 1) * vocab].to_vec();
                log_softmax(&mut log_probs);
                process_row(&mut log_probs, &hyp.tokens, decoding);
                accumulated.extend(log_probs.iter().map(|lp| lp + hyp.score));
            }
            // b. the best `beams_to_keep` candidates
            let candidates: Vec<(usize, u32, f32)> = top_k(&accumulated, beams_to_keep)
                .into_iter()
                .map(|i| (i / vocab, (i % vocab) as u32, accumulated[i]))
                .collect();
            // c. which of them stop here (EOS, or the length limit)
            let hits: Vec<bool> = candidates
                .iter()
                .map(|&(_, token, _)| eos.contains(&token) || cur_len + 1 >= max_length)
                .collect();
            all_hit_stop &= hits.iter().all(|&h| h);
            // d. the next running beams: best candidates that did not stop
            let running_scores: Vec<f32> = candidates
                .iter()
                .zip(&hits)
                .map(|(&(_, _, s), &hit)| s + if hit { NEG } else { 0.0 })
                .collect();
            let next_running: Vec<Hypothesis> = top_k(&running_scores, num_beams)
                .into_iter()
                .map(|j| {
                    let (beam, token, _) = candidates[j];
                    parents.push((g * num_beams + beam) as i64);
                    let mut tokens = group.running[beam].tokens.clone();
                    tokens.push(token);
                    Hypothesis {
                        tokens,
                        score: running_scores[j],
                    }
                })
                .collect();
            // e. the best finished hypotheses so far
            let generated = (cur_len + 1 - prompt_len) as f32;
            let beams_full = group.is_finished.iter().all(|&f| f)
                && config.early_stopping == EarlyStopping::True;
            let mut merged = std::mem::take(&mut group.finished);
            let mut merged_flags = std::mem::take(&mut group.is_finished);
            for (j, &(beam, token, score)) in candidates.iter().enumerate() {
                let just_finished = hits[j] && j < num_beams;
                let mut finished_score = score / generated.powf(lp);
                if beams_full {
                    finished_score += NEG;
                }
                if !group.improvable {
                    finished_score += NEG;
                }
                if !just_finished {
                    finished_score += NEG;
                }
                let mut tokens = group.running[beam].tokens.clone();
                tokens.push(token);
                merged.push(Hypothesis {
                    tokens,
                    score: finished_score,
                });
                merged_flags.push(just_finished);
            }
            let merged_scores: Vec<f32> = merged.iter().map(|h| h.score).collect();
            let keep = top_k(&merged_scores, num_beams);
            group.finished = keep.iter().map(|&i| merged[i].clone()).collect();
            group.is_finished = keep.iter().map(|&i| merged_flags[i]).collect();
            group.running = next_running;
        }
        cur_len += 1;
        // f. can any running beam still beat the worst finished one?
        for group in &mut groups {
            let length = if config.early_stopping == EarlyStopping::Never && lp > 0.0 {
                max_length - prompt_len
            } else {
                cur_len - prompt_len
            };
            let best_running = group.running[0].score / (length as f32).powf(lp);
            let worst_finished = group
                .finished
                .iter()
                .map(|h| h.score)
                .fold(f32::INFINITY, f32::min);
            let possible = group
                .is_finished
                .iter()
                .any(|&done| best_running > if done { worst_finished } else { NEG });
            group.improvable &= possible;
        }
        let improvement_possible = groups.iter().any(|g| g.improvable);
        let all_finished = groups.iter().all(|g| g.is_finished.iter().all(|&f| f));
        let open = !(all_finished && config.early_stopping == EarlyStopping::True);
        if !(improvement_possible && open && !all_hit_stop) || cur_len >= max_length {
            break;
        }
        let parents = Tensor::<1, Int>::from_data(TensorData::new(parents, [rows]), &device);
        state = state.reorder_beams(parents);
    }
    Ok(groups
        .into_iter()
        .map(|g| {
            g.finished
                .into_iter()
                .next()
                .map(|h| h.tokens)
                .unwrap_or_default()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn top_k_is_sorted_and_stable_on_ties() {
        assert_eq!(top_k(&[1.0, 5.0, 3.0, 5.0, -1.0], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[2.0, 1.0], 5), vec![0, 1]);
    }
}
