//! Mixing rates and a deterministic, resumable mixture sampler.
//!
//! Sample `n` is a pure function of `(seed, n)`: positions are cut into blocks of
//! [`BLOCK`] samples; inside a block a seeded shuffle of strata gives every task its
//! share to within one sample while keeping the order random. Each task walks through a
//! fresh seeded permutation of its examples per epoch, and the phrasing is drawn by hash.
//! [`SamplerState`] (`seed`, `position`, a mixture fingerprint) restores a sampler that
//! continues exactly where the saved one stopped.

use serde::{Deserialize, Serialize};

use super::error::MixtureError;
use crate::data::split::{mix, splitmix64, unit_f64};

/// Samples per stratified block.
pub const BLOCK: u64 = 1024;

/// Domain tags keep the hash streams of blocks, jitter, example order and phrasing apart.
const TAG_BLOCK: u64 = 1;
const TAG_JITTER: u64 = 2;
const TAG_EXAMPLES: u64 = 3;
const TAG_PHRASING: u64 = 4;

/// How tasks are weighted against each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Examples-proportional with an optional cap K: rate_i = min(n_i, K) / Σ min(n_j, K).
    #[default]
    Proportional,
    /// Temperature-scaled: rate_i ∝ min(n_i, K)^(1/T).
    Temperature,
    /// Explicit weights: rate_i = w_i / Σ w_j.
    Explicit,
}

/// Mixing rates (summing to 1) for tasks of `sizes` examples. `weights` scale the rates of
/// the proportional and temperature strategies and are the rates of the explicit one.
pub fn mixing_rates(
    strategy: Strategy,
    sizes: &[usize],
    weights: &[f64],
    cap: Option<usize>,
    temperature: f64,
) -> Vec<f64> {
    let capped = |size: usize| cap.map_or(size, |cap| size.min(cap)) as f64;
    let raw: Vec<f64> = sizes
        .iter()
        .zip(weights)
        .map(|(&size, &weight)| match strategy {
            Strategy::Proportional => capped(size) * weight,
            Strategy::Temperature => capped(size).powf(1.0 / temperature) * weight,
            Strategy::Explicit if size == 0 => 0.0,
            Strategy::Explicit => weight,
        })
        .collect();
    let total: f64 = raw.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return vec![0.0; sizes.len()];
    }
    raw.iter().map(|rate| rate / total).collect()
}

/// What the sampler needs to know about a mixture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingPlan {
    /// Mixing rate per task (sums to 1).
    pub rates: Vec<f64>,
    /// Examples per task.
    pub sizes: Vec<usize>,
    /// Phrasings per task.
    pub phrasings: Vec<usize>,
}

impl SamplingPlan {
    /// A hash of rates, sizes and phrasing counts, stored in [`SamplerState`].
    pub fn fingerprint(&self) -> u64 {
        let words: Vec<u64> = self
            .rates
            .iter()
            .map(|rate| rate.to_bits())
            .chain(self.sizes.iter().map(|&size| size as u64))
            .chain(self.phrasings.iter().map(|&count| count as u64))
            .collect();
        mix(&words)
    }
}

/// One draw: which task, which of its examples, which phrasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Position in the sample stream, from 0.
    pub position: u64,
    /// Task index.
    pub task: usize,
    /// Example index within the task.
    pub example: usize,
    /// Phrasing index within the task's templates.
    pub phrasing: usize,
}

/// Everything needed to resume a sampler: save it with a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// Seed of the sample stream.
    pub seed: u64,
    /// Number of samples already drawn.
    pub position: u64,
    /// [`SamplingPlan::fingerprint`] of the mixture it belongs to.
    pub fingerprint: u64,
}

/// The current epoch's example order of one task.
#[derive(Debug, Clone, Default)]
struct Epoch {
    number: Option<u64>,
    order: Vec<u32>,
}

/// Deterministic, resumable sampler over a [`SamplingPlan`]; an endless iterator of [`Sample`]s.
#[derive(Debug, Clone)]
pub struct Sampler {
    plan: SamplingPlan,
    seed: u64,
    position: u64,
    cumulative: Vec<f64>,
    block: Option<u64>,
    block_tasks: Vec<usize>,
    draws: Vec<u64>,
    epochs: Vec<Epoch>,
}

impl Sampler {
    /// A sampler at position 0. Fails when no task has both a rate and examples.
    pub fn new(plan: SamplingPlan, seed: u64) -> Result<Self, MixtureError> {
        let tasks = plan.rates.len();
        if plan.sizes.len() != tasks || plan.phrasings.len() != tasks {
            return Err(MixtureError::StateMismatch {
                message: "rates, sizes and phrasings differ in length".into(),
            });
        }
        let usable = plan.rates.iter().zip(&plan.sizes).zip(&plan.phrasings);
        if !usable
            .clone()
            .any(|((&rate, &size), &phrasings)| rate > 0.0 && size > 0 && phrasings > 0)
        {
            return Err(MixtureError::StateMismatch {
                message: "no task has a positive rate, examples and phrasings".into(),
            });
        }
        if let Some(task) = usable
            .clone()
            .position(|((&rate, &size), &phrasings)| rate > 0.0 && (size == 0 || phrasings == 0))
        {
            return Err(MixtureError::StateMismatch {
                message: format!("task {task} has a positive rate but no examples or phrasings"),
            });
        }
        let mut running = 0.0;
        let cumulative = plan
            .rates
            .iter()
            .map(|rate| {
                running += rate;
                running
            })
            .collect();
        Ok(Self {
            seed,
            position: 0,
            cumulative,
            block: None,
            block_tasks: Vec::new(),
            draws: vec![0; tasks],
            epochs: vec![Epoch::default(); tasks],
            plan,
        })
    }

    /// Restores a sampler saved with [`Sampler::state`]; it continues with exactly the samples
    /// the saved one would have produced. Costs one cheap pass over the skipped positions.
    pub fn restore(plan: SamplingPlan, state: SamplerState) -> Result<Self, MixtureError> {
        if plan.fingerprint() != state.fingerprint {
            return Err(MixtureError::StateMismatch {
                message: "the mixture's tasks, sizes, rates or phrasings changed since the state was saved".into(),
            });
        }
        let mut sampler = Self::new(plan, state.seed)?;
        for position in 0..state.position {
            let task = sampler.task_at(position);
            sampler.draws[task] += 1;
        }
        sampler.position = state.position;
        Ok(sampler)
    }

    /// The state to save for resuming.
    pub fn state(&self) -> SamplerState {
        SamplerState {
            seed: self.seed,
            position: self.position,
            fingerprint: self.plan.fingerprint(),
        }
    }

    /// The plan being sampled.
    pub fn plan(&self) -> &SamplingPlan {
        &self.plan
    }

    /// Task of sample `position`: a pure function of `(seed, position)`.
    pub fn task_at(&mut self, position: u64) -> usize {
        let block = position / BLOCK;
        if self.block != Some(block) {
            self.fill_block(block);
        }
        self.block_tasks[(position % BLOCK) as usize]
    }

    fn fill_block(&mut self, block: u64) {
        let strata = shuffled(BLOCK as usize, mix(&[self.seed, block, TAG_BLOCK]));
        let last_used = self
            .plan
            .rates
            .iter()
            .rposition(|&rate| rate > 0.0)
            .unwrap_or(0);
        self.block_tasks = strata
            .iter()
            .enumerate()
            .map(|(slot, &stratum)| {
                let jitter = unit_f64(mix(&[self.seed, block, slot as u64, TAG_JITTER]));
                let point = (f64::from(stratum) + jitter) / BLOCK as f64;
                let task = self.cumulative.partition_point(|&edge| edge <= point);
                // Guard against rounding at the top end and zero-rate tasks.
                match self.plan.rates.get(task) {
                    Some(&rate) if rate > 0.0 => task,
                    _ => last_used.min(task),
                }
            })
            .collect();
        self.block = Some(block);
    }

    fn example_for(&mut self, task: usize) -> usize {
        let size = self.plan.sizes[task] as u64;
        let draw = self.draws[task];
        self.draws[task] += 1;
        let epoch = draw / size;
        let slot = &mut self.epochs[task];
        if slot.number != Some(epoch) {
            slot.order = shuffled(
                size as usize,
                mix(&[self.seed, task as u64, epoch, TAG_EXAMPLES]),
            );
            slot.number = Some(epoch);
        }
        slot.order[(draw % size) as usize] as usize
    }
}

impl Iterator for Sampler {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        let position = self.position;
        let task = self.task_at(position);
        let example = self.example_for(task);
        let phrasings = self.plan.phrasings[task] as u64;
        let phrasing = (mix(&[self.seed, position, TAG_PHRASING]) % phrasings) as usize;
        self.position += 1;
        Some(Sample {
            position,
            task,
            example,
            phrasing,
        })
    }
}

/// A seeded Fisher-Yates shuffle of `0..len` driven by SplitMix64.
fn shuffled(len: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..len as u32).collect();
    let mut state = seed;
    for index in (1..len).rev() {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let pick = (splitmix64(state) % (index as u64 + 1)) as usize;
        order.swap(index, pick);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(left: &[f64], right: &[f64]) -> bool {
        left.iter().zip(right).all(|(a, b)| (a - b).abs() < 1e-12)
    }

    #[test]
    fn proportional_rates_with_cap() {
        let rates = mixing_rates(
            Strategy::Proportional,
            &[100, 300, 10_000],
            &[1.0; 3],
            Some(1_000),
            1.0,
        );
        assert!(
            close(&rates, &[100.0 / 1400.0, 300.0 / 1400.0, 1000.0 / 1400.0]),
            "{rates:?}"
        );
        let uncapped = mixing_rates(Strategy::Proportional, &[100, 300], &[1.0, 1.0], None, 1.0);
        assert!(close(&uncapped, &[0.25, 0.75]));
    }

    #[test]
    fn temperature_rates_flatten() {
        let rates = mixing_rates(Strategy::Temperature, &[100, 400], &[1.0, 1.0], None, 2.0);
        assert!(close(&rates, &[10.0 / 30.0, 20.0 / 30.0]), "{rates:?}");
        let same = mixing_rates(Strategy::Temperature, &[100, 400], &[1.0, 1.0], None, 1.0);
        assert!(close(&same, &[0.2, 0.8]));
    }

    #[test]
    fn explicit_rates_are_normalised_weights() {
        let rates = mixing_rates(Strategy::Explicit, &[5, 5, 0], &[3.0, 1.0, 4.0], None, 1.0);
        assert!(close(&rates, &[0.75, 0.25, 0.0]), "{rates:?}");
    }

    fn plan() -> SamplingPlan {
        SamplingPlan {
            rates: vec![0.5, 0.3, 0.2],
            sizes: vec![7, 50, 1000],
            phrasings: vec![3, 1, 8],
        }
    }

    #[test]
    fn blocks_match_rates_closely() {
        let mut sampler = Sampler::new(plan(), 1).unwrap();
        let mut counts = [0usize; 3];
        for sample in sampler.by_ref().take(BLOCK as usize) {
            counts[sample.task] += 1;
        }
        for (count, rate) in counts.iter().zip([0.5, 0.3, 0.2]) {
            assert!(
                (*count as f64 - rate * BLOCK as f64).abs() <= 2.0,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn epochs_cover_every_example_once() {
        let mut sampler = Sampler::new(plan(), 3).unwrap();
        let mut seen: Vec<usize> = sampler
            .by_ref()
            .filter(|s| s.task == 0)
            .take(14)
            .map(|s| s.example)
            .collect();
        let (first, second) = seen.split_at_mut(7);
        first.sort_unstable();
        second.sort_unstable();
        assert_eq!(first, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(second, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn restore_continues_exactly() {
        let mut original = Sampler::new(plan(), 9).unwrap();
        let _: Vec<_> = original.by_ref().take(2_500).collect();
        let state = original.state();
        let expected: Vec<Sample> = original.take(3_000).collect();
        let restored = Sampler::restore(plan(), state).unwrap();
        assert_eq!(restored.take(3_000).collect::<Vec<_>>(), expected);
        let mut other = plan();
        other.sizes[0] = 8;
        assert!(matches!(
            Sampler::restore(other, state),
            Err(MixtureError::StateMismatch { .. })
        ));
    }

    #[test]
    fn phrasing_is_seeded_and_spread() {
        let plan = SamplingPlan {
            rates: vec![1.0],
            sizes: vec![1],
            phrasings: vec![8],
        };
        let phrasings = |seed| -> Vec<usize> {
            let sampler = Sampler::new(plan.clone(), seed).unwrap();
            sampler.take(800).map(|sample| sample.phrasing).collect()
        };
        assert_eq!(phrasings(1), phrasings(1));
        let changed = phrasings(1)
            .iter()
            .zip(phrasings(2))
            .filter(|(a, b)| **a != *b)
            .count();
        assert!(
            changed > 600,
            "seed must pick phrasings: {changed} of 800 changed"
        );
        let mut counts = [0usize; 8];
        for phrasing in phrasings(1) {
            counts[phrasing] += 1;
        }
        assert!(
            counts.iter().all(|&count| (70..=130).contains(&count)),
            "{counts:?}"
        );
    }

    #[test]
    fn zero_rate_task_is_never_drawn() {
        let plan = SamplingPlan {
            rates: vec![0.0, 1.0, 0.0],
            sizes: vec![0, 3, 4],
            phrasings: vec![1, 1, 1],
        };
        let sampler = Sampler::new(plan, 0).unwrap();
        assert!(sampler.take(5_000).all(|sample| sample.task == 1));
    }
}
