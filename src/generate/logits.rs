//! Host-side logits processors (as HF's `LogitsProcessor`s) and the sampling warpers.

use std::collections::HashSet;

use rand::Rng;

use super::{Decoding, GenerationConfig};

/// Applies the vocabulary limit, `min_new_tokens` and `no_repeat_ngram_size` to one row of
/// scores. `sequence` is the decoder input so far, start token included (as HF sees it).
pub fn process_row(scores: &mut [f32], sequence: &[u32], decoding: Decoding) {
    let Decoding {
        config,
        defaults,
        vocab_limit,
    } = decoding;
    for score in scores.iter_mut().skip(vocab_limit) {
        *score = f32::NEG_INFINITY;
    }
    // The start token is not a generated token.
    if sequence.len().saturating_sub(1) < config.min_new_tokens {
        for &eos in &defaults.eos_token_ids {
            if let Some(score) = scores.get_mut(eos as usize) {
                *score = f32::NEG_INFINITY;
            }
        }
    }
    for banned in banned_ngram_tokens(sequence, config.no_repeat_ngram_size) {
        if let Some(score) = scores.get_mut(banned as usize) {
            *score = f32::NEG_INFINITY;
        }
    }
}

/// Tokens that would complete an n-gram already present in `sequence` (HF's
/// `NoRepeatNGramLogitsProcessor`): those that followed the last `n - 1` tokens before.
pub fn banned_ngram_tokens(sequence: &[u32], n: usize) -> HashSet<u32> {
    let mut banned = HashSet::new();
    if n == 0 || sequence.len() + 1 < n {
        return banned;
    }
    let prefix = &sequence[sequence.len() + 1 - n..];
    for window in sequence.windows(n) {
        if &window[..n - 1] == prefix {
            banned.insert(window[n - 1]);
        }
    }
    banned
}

/// Index of the largest score (the first one on ties, as `argmax`).
pub fn argmax(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best
}

/// Draws a token from `scores` after temperature, top-k and top-p (HF's warper order).
pub fn sample(scores: &[f32], config: &GenerationConfig, rng: &mut impl Rng) -> usize {
    let temperature = config.temperature.max(1e-6);
    let mut candidates: Vec<(usize, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_finite())
        .map(|(i, &s)| (i, s / temperature))
        .collect();
    if candidates.is_empty() {
        return argmax(scores);
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if config.top_k > 0 {
        candidates.truncate(config.top_k);
    }
    let max = candidates[0].1;
    let mut probs: Vec<f64> = candidates
        .iter()
        .map(|(_, s)| ((s - max) as f64).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if config.top_p < 1.0 {
        let mut cumulative = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cumulative += p;
            if cumulative >= config.top_p as f64 {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        candidates.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut draw = rng.random::<f64>() * total;
    for (i, p) in probs.iter().enumerate() {
        draw -= p;
        if draw <= 0.0 {
            return candidates[i].0;
        }
    }
    candidates[candidates.len() - 1].0
}

/// `log_softmax` of one row, in f32 like PyTorch on f32 logits.
pub fn log_softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|&x| (x - max).exp()).sum();
    let log_sum = sum.ln() + max;
    row.iter_mut().for_each(|x| *x -= log_sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GenerationDefaults;
    use rand::SeedableRng;

    #[test]
    fn ngram_ban_finds_continuations_of_the_last_prefix() {
        // 0 5 6 7 5 6 -> bigram "5 6" seen, trigram (5,6)->7 banned for n=3.
        let seq = [0, 5, 6, 7, 5, 6];
        assert_eq!(banned_ngram_tokens(&seq, 3), HashSet::from([7]));
        // n=2: the last token 6 was followed by 7.
        assert_eq!(banned_ngram_tokens(&seq, 2), HashSet::from([7]));
        assert!(banned_ngram_tokens(&seq[..1], 3).is_empty());
        assert!(banned_ngram_tokens(&seq, 0).is_empty());
    }

    #[test]
    fn min_tokens_and_vocab_limit_mask_scores() {
        let config = GenerationConfig {
            min_new_tokens: 2,
            ..Default::default()
        };
        let defaults = GenerationDefaults {
            decoder_start_token_id: 0,
            eos_token_ids: vec![1],
            pad_token_id: 0,
        };
        let mut scores = vec![0.0; 6];
        let decoding = |vocab_limit| Decoding {
            config: &config,
            defaults: &defaults,
            vocab_limit,
        };
        process_row(&mut scores, &[0, 3], decoding(4));
        assert_eq!(scores[1], f32::NEG_INFINITY);
        assert_eq!(scores[4], f32::NEG_INFINITY);
        assert_eq!(scores[3], 0.0);
        let mut scores = vec![0.0; 6];
        process_row(&mut scores, &[0, 3, 3], decoding(6));
        assert_eq!(scores[1], 0.0);
    }

    #[test]
    fn sampling_respects_top_k_and_seed() {
        let scores = [0.0, 5.0, 4.9, -1.0, f32::NEG_INFINITY];
        let config = GenerationConfig {
            do_sample: true,
            top_k: 2,
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<usize> = (0..200)
            .map(|_| sample(&scores, &config, &mut rng))
            .collect();
        assert!(draws.iter().all(|&d| d == 1 || d == 2));
        assert!(draws.contains(&1) && draws.contains(&2));
        let mut again = rand::rngs::StdRng::seed_from_u64(7);
        let repeat: Vec<usize> = (0..200)
            .map(|_| sample(&scores, &config, &mut again))
            .collect();
        assert_eq!(draws, repeat);
        let nucleus = GenerationConfig {
            do_sample: true,
            top_p: 0.5,
            ..Default::default()
        };
        assert!((0..50).all(|_| sample(&scores, &nucleus, &mut rng) == 1));
    }
}
