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
    let device = model.device();
    let settings = Settings::new(decoding);
    let num_beams = settings.num_beams;
    let expand: Vec<i64> = (0..batch * num_beams)
        .map(|r| (r / num_beams) as i64)
        .collect();
    let mut state = state.select_rows(Tensor::<1, Int>::from_data(
        TensorData::new(expand, [batch * num_beams]),
        &device,
    ));
    let start = decoding.defaults.decoder_start_token_id;
    let mut groups: Vec<BeamGroup> = (0..batch)
        .map(|_| BeamGroup::new(num_beams, start))
        .collect();
    let mut cur_len = PROMPT_LEN;
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
        for (g, (group, scores)) in groups
            .iter_mut()
            .zip(scores.chunks(num_beams * vocab))
            .enumerate()
        {
            let step = group.step(scores, vocab, cur_len, &settings);
            all_hit_stop &= step.all_hit_stop;
            parents.extend(
                step.parents
                    .into_iter()
                    .map(|beam| (g * num_beams + beam) as i64),
            );
        }
        cur_len += 1;
        for group in &mut groups {
            group.check_improvable(cur_len, &settings);
        }
        let improvement_possible = groups.iter().any(|g| g.improvable);
        let all_finished = groups.iter().all(|g| g.is_finished.iter().all(|&f| f));
        let open = !(all_finished && settings.early_stopping == EarlyStopping::True);
        if !(improvement_possible && open && !all_hit_stop) || cur_len >= settings.max_length {
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

/// Decoder inputs start with one token (the decoder start), as HF's `cur_len`.
const PROMPT_LEN: usize = 1;

/// What every step of the search reads from the decoding settings.
struct Settings<'a> {
    decoding: Decoding<'a>,
    num_beams: usize,
    /// Candidates kept per step: `max(2, 1 + eos ids) × beams`, as HF.
    beams_to_keep: usize,
    max_length: usize,
    length_penalty: f32,
    early_stopping: EarlyStopping,
}

impl<'a> Settings<'a> {
    fn new(decoding: Decoding<'a>) -> Self {
        let config = decoding.config;
        let eos = &decoding.defaults.eos_token_ids;
        Self {
            decoding,
            num_beams: config.num_beams,
            beams_to_keep: 2.max(1 + eos.len()) * config.num_beams,
            max_length: PROMPT_LEN + config.max_new_tokens,
            length_penalty: config.length_penalty,
            early_stopping: config.early_stopping,
        }
    }
}

/// What one group's step decided: the parent beam of each next running beam (within the
/// group), and whether every candidate stopped.
struct GroupStep {
    parents: Vec<usize>,
    all_hit_stop: bool,
}

impl BeamGroup {
    /// `num_beams` running beams at the start token (all but the first at a score that
    /// never wins, so the first step expands one beam), no finished ones.
    fn new(num_beams: usize, start: u32) -> Self {
        Self {
            running: (0..num_beams)
                .map(|b| Hypothesis {
                    tokens: vec![start],
                    score: if b == 0 { 0.0 } else { NEG },
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
        }
    }

    /// One step of HF's `_beam_search` for this group, from its beams' logits `scores`
    /// (`[num_beams, vocab]`, row-major) at length `cur_len`.
    fn step(&mut self, scores: &[f32], vocab: usize, cur_len: usize, s: &Settings) -> GroupStep {
        let (num_beams, eos) = (s.num_beams, &s.decoding.defaults.eos_token_ids);
        // a. accumulated log-probabilities of every continuation of every beam
        let mut accumulated = Vec::with_capacity(num_beams * vocab);
        for (hyp, row) in self.running.iter().zip(scores.chunks(vocab)) {
            let mut log_probs = row.to_vec();
            log_softmax(&mut log_probs);
            process_row(&mut log_probs, &hyp.tokens, s.decoding);
            accumulated.extend(log_probs.iter().map(|lp| lp + hyp.score));
        }
        // b. the best `beams_to_keep` candidates
        let candidates: Vec<(usize, u32, f32)> = top_k(&accumulated, s.beams_to_keep)
            .into_iter()
            .map(|i| (i / vocab, (i % vocab) as u32, accumulated[i]))
            .collect();
        // c. which of them stop here (EOS, or the length limit)
        let hits: Vec<bool> = candidates
            .iter()
            .map(|&(_, token, _)| eos.contains(&token) || cur_len + 1 >= s.max_length)
            .collect();
        // d. the next running beams: best candidates that did not stop
        let running_scores: Vec<f32> = candidates
            .iter()
            .zip(&hits)
            .map(|(&(_, _, score), &hit)| score + if hit { NEG } else { 0.0 })
            .collect();
        let mut parents = Vec::with_capacity(num_beams);
        let next_running: Vec<Hypothesis> = top_k(&running_scores, num_beams)
            .into_iter()
            .map(|j| {
                let (beam, token, _) = candidates[j];
                parents.push(beam);
                let mut tokens = self.running[beam].tokens.clone();
                tokens.push(token);
                Hypothesis {
                    tokens,
                    score: running_scores[j],
                }
            })
            .collect();
        // e. the best finished hypotheses so far
        self.keep_finished(&candidates, &hits, cur_len, s);
        self.running = next_running;
        GroupStep {
            parents,
            all_hit_stop: hits.iter().all(|&h| h),
        }
    }

    /// Merges the candidates that just finished (among the first `num_beams`, scored with
    /// the length penalty) into the finished list, keeping the best `num_beams`.
    fn keep_finished(
        &mut self,
        candidates: &[(usize, u32, f32)],
        hits: &[bool],
        cur_len: usize,
        s: &Settings,
    ) {
        let generated = (cur_len + 1 - PROMPT_LEN) as f32;
        let beams_full =
            self.is_finished.iter().all(|&f| f) && s.early_stopping == EarlyStopping::True;
        let mut merged = std::mem::take(&mut self.finished);
        let mut merged_flags = std::mem::take(&mut self.is_finished);
        for (j, &(beam, token, score)) in candidates.iter().enumerate() {
            let just_finished = hits[j] && j < s.num_beams;
            let mut finished_score = score / generated.powf(s.length_penalty);
            if beams_full {
                finished_score += NEG;
            }
            if !self.improvable {
                finished_score += NEG;
            }
            if !just_finished {
                finished_score += NEG;
            }
            let mut tokens = self.running[beam].tokens.clone();
            tokens.push(token);
            merged.push(Hypothesis {
                tokens,
                score: finished_score,
            });
            merged_flags.push(just_finished);
        }
        let merged_scores: Vec<f32> = merged.iter().map(|h| h.score).collect();
        let keep = top_k(&merged_scores, s.num_beams);
        self.finished = keep.iter().map(|&i| merged[i].clone()).collect();
        self.is_finished = keep.iter().map(|&i| merged_flags[i]).collect();
    }

    /// f. Whether a running beam can still beat the worst finished one (HF's
    /// `_check_early_stop_heuristic`), at length `cur_len`.
    fn check_improvable(&mut self, cur_len: usize, s: &Settings) {
        let length = if s.early_stopping == EarlyStopping::Never && s.length_penalty > 0.0 {
            s.max_length - PROMPT_LEN
        } else {
            cur_len - PROMPT_LEN
        };
        let best_running = self.running[0].score / (length as f32).powf(s.length_penalty);
        let worst_finished = self
            .finished
            .iter()
            .map(|h| h.score)
            .fold(f32::INFINITY, f32::min);
        let possible = self
            .is_finished
            .iter()
            .any(|&done| best_running > if done { worst_finished } else { NEG });
        self.improvable &= possible;
    }
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
