//! Turns rendered examples into padded model inputs and `-100`-padded labels.

use burn::tensor::{Device, Int, Tensor};

use crate::data::tokenizer::T5Tokenizer;
pub use crate::data::tokenizer::{truncate, EOS_ID, PAD_ID};
use crate::error::{MixtuneError, Result};
use crate::generate::pad_batch_to;
use crate::mixture::RenderedExample;
use crate::model::t5::IGNORE_INDEX;

/// Padded lengths a batch may take: multiples of 16 up to 64, then powers of two and the
/// midpoints between them. Padding every batch up to one of these keeps the number of
/// distinct tensor shapes of a run small (ten per side for 512 tokens), so the
/// GPU compiles and tunes its kernels once per shape, early in the run, instead of for every
/// new longest example.
pub fn length_bucket(len: usize, max: usize) -> usize {
    let bucket = if len <= 64 {
        len.div_ceil(16).max(1) * 16
    } else {
        let power = len.next_power_of_two();
        let midpoint = power / 2 + power / 4;
        if len <= midpoint {
            midpoint
        } else {
            power
        }
    };
    // Never past the limit (a batch at the limit is already one shape).
    bucket.min(max.max(len))
}

/// One micro-batch ready for [`T5ForConditionalGeneration::loss`](crate::model::T5ForConditionalGeneration::loss).
#[derive(Debug, Clone)]
pub struct TrainBatch {
    /// Right-padded source ids `[batch, source_len]`.
    pub input_ids: Tensor<2, Int>,
    /// 0/1 mask of `input_ids`.
    pub attention_mask: Tensor<2>,
    /// Target ids per example, right-padded with `-100` to the longest target.
    pub labels: Vec<Vec<i64>>,
    /// Task of each example.
    pub tasks: Vec<String>,
    /// Real (non-pad) source tokens in the batch.
    pub source_tokens: usize,
    /// Real (non-pad) target tokens in the batch.
    pub target_tokens: usize,
}

impl TrainBatch {
    /// `[batch, source_len, target_len]` as padded: the shape its kernels are compiled for.
    pub fn shape(&self) -> [usize; 3] {
        let [rows, source_len] = self.input_ids.dims();
        [rows, source_len, self.labels.first().map_or(0, Vec::len)]
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A batch of token ids on `device`, padded to `[source_len, target_len]` (at least the
/// longest of each): sources with [`PAD_ID`] and a 0/1 mask, targets with `-100`.
pub fn padded_batch(
    sources: &[Vec<u32>],
    targets: &[Vec<u32>],
    tasks: Vec<String>,
    [source_len, target_len]: [usize; 2],
    device: &Device,
) -> Result<TrainBatch> {
    let target_len = target_len.max(targets.iter().map(Vec::len).max().unwrap_or(0));
    let (input_ids, attention_mask) = pad_batch_to(sources, PAD_ID, source_len, device)?;
    let labels = targets
        .iter()
        .map(|ids| {
            let mut row: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
            row.resize(target_len, IGNORE_INDEX);
            row
        })
        .collect();
    Ok(TrainBatch {
        input_ids,
        attention_mask,
        labels,
        tasks,
        source_tokens: sources.iter().map(Vec::len).sum(),
        target_tokens: targets.iter().map(Vec::len).sum(),
    })
}

/// Tokenizes, truncates and pads rendered examples.
#[derive(Debug, Clone)]
pub struct Batcher {
    tokenizer: T5Tokenizer,
    max_source_tokens: usize,
    max_target_tokens: usize,
    /// Pad to [`length_bucket`]s rather than to the longest example.
    buckets: bool,
}

impl Batcher {
    /// A batcher cutting sources to `max_source_tokens` and targets to
    /// `max_target_tokens` (both counting the final `</s>`; at least 1).
    pub fn new(
        tokenizer: T5Tokenizer,
        max_source_tokens: usize,
        max_target_tokens: usize,
    ) -> Result<Self> {
        if max_source_tokens == 0 || max_target_tokens == 0 {
            return Err(MixtuneError::Input(format!(
                "max_source_tokens ({max_source_tokens}) and max_target_tokens \
                 ({max_target_tokens}) must be at least 1"
            )));
        }
        Ok(Self {
            tokenizer,
            max_source_tokens,
            max_target_tokens,
            buckets: true,
        })
    }

    /// Pads to the longest example instead of a [`length_bucket`] (exact shapes, more of
    /// them).
    pub fn without_buckets(mut self) -> Self {
        self.buckets = false;
        self
    }

    /// Token ids of one source and target, truncated.
    pub fn encode(&self, example: &RenderedExample) -> Result<(Vec<u32>, Vec<u32>)> {
        let source = truncate(
            self.tokenizer.encode(&example.source)?,
            self.max_source_tokens,
        );
        let target = truncate(
            self.tokenizer.encode(&example.target)?,
            self.max_target_tokens,
        );
        Ok((source, target))
    }

    /// A padded batch of `examples` on `device`.
    pub fn batch(&self, examples: &[RenderedExample], device: &Device) -> Result<TrainBatch> {
        if examples.is_empty() {
            return Err(MixtuneError::Input("empty training batch".into()));
        }
        let mut sources = Vec::with_capacity(examples.len());
        let mut targets = Vec::with_capacity(examples.len());
        for example in examples {
            let (source, target) = self.encode(example)?;
            sources.push(source);
            targets.push(target);
        }
        let longest = |ids: &[Vec<u32>]| ids.iter().map(Vec::len).max().unwrap_or(0);
        let (mut source_len, mut target_len) = (longest(&sources), longest(&targets));
        if self.buckets {
            source_len = length_bucket(source_len, self.max_source_tokens);
            target_len = length_bucket(target_len, self.max_target_tokens);
        }
        let tasks = examples.iter().map(|e| e.task.clone()).collect();
        padded_batch(&sources, &targets, tasks, [source_len, target_len], device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tokenizer() -> T5Tokenizer {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/models/t5-tokenizer/tokenizer.json"
        );
        T5Tokenizer::from_file(Path::new(path)).unwrap()
    }

    fn example(task: &str, source: &str, target: &str) -> RenderedExample {
        RenderedExample {
            task: task.into(),
            example_id: "0".into(),
            phrasing: "p".into(),
            source: source.into(),
            target: target.into(),
        }
    }

    #[test]
    fn lengths_pad_to_few_buckets() {
        assert_eq!(length_bucket(1, 512), 16);
        assert_eq!(length_bucket(16, 512), 16);
        assert_eq!(length_bucket(17, 512), 32);
        assert_eq!(length_bucket(64, 512), 64);
        assert_eq!(length_bucket(65, 512), 96);
        assert_eq!(length_bucket(97, 512), 128);
        assert_eq!(length_bucket(129, 512), 192);
        assert_eq!(length_bucket(200, 512), 256);
        assert_eq!(length_bucket(300, 512), 384);
        assert_eq!(length_bucket(385, 512), 512);
        // Capped at the limit; a limit between buckets is a bucket of its own.
        assert_eq!(length_bucket(100, 100), 100);
        assert_eq!(length_bucket(70, 100), 96);
        // Every length up to 512 falls in one of ten shapes.
        let shapes: std::collections::BTreeSet<usize> =
            (1..=512).map(|len| length_bucket(len, 512)).collect();
        assert_eq!(shapes.len(), 10, "{shapes:?}");
        assert!((1..=512).all(|len| length_bucket(len, 512) >= len));
    }

    #[test]
    fn truncation_keeps_final_eos() {
        assert_eq!(truncate(vec![5, 6, 7, 1], 4), vec![5, 6, 7, 1]);
        assert_eq!(truncate(vec![5, 6, 7, 1], 5), vec![5, 6, 7, 1]);
        assert_eq!(truncate(vec![5, 6, 7, 1], 3), vec![5, 6, 1]);
        assert_eq!(truncate(vec![5, 6, 7, 1], 2), vec![5, 1]);
        assert_eq!(truncate(vec![5, 6, 7, 1], 1), vec![1]);
    }

    #[test]
    fn rejects_zero_limits() {
        assert!(Batcher::new(tokenizer(), 0, 4).is_err());
        assert!(Batcher::new(tokenizer(), 4, 0).is_err());
    }

    #[test]
    fn batch_truncates_pads_and_counts() {
        let tokenizer = tokenizer();
        let long = "one two three four five six seven eight nine ten";
        let full = tokenizer.encode(long).unwrap();
        assert!(full.len() > 6);
        let batcher = Batcher::new(tokenizer.clone(), 6, 3)
            .unwrap()
            .without_buckets();
        let device = Device::flex();
        let batch = batcher
            .batch(
                &[example("a", long, long), example("b", "hi", "ok")],
                &device,
            )
            .unwrap();
        assert_eq!(batch.input_ids.dims(), [2, 6]);
        let ids: Vec<i64> = batch
            .input_ids
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        let mut expected: Vec<i64> = full[..5].iter().map(|&i| i as i64).collect();
        expected.push(1);
        assert_eq!(&ids[..6], &expected[..]);
        let short = tokenizer.encode("hi").unwrap();
        assert_eq!(ids[6 + short.len() - 1], 1);
        assert!(ids[6 + short.len()..].iter().all(|&i| i == 0));
        let mask: Vec<f32> = batch
            .attention_mask
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(mask.iter().sum::<f32>() as usize, 6 + short.len());

        assert_eq!(batch.labels[0].len(), 3);
        assert_eq!(batch.labels[0][..2], expected[..2]);
        assert_eq!(batch.labels[0][2], 1);
        let ok = tokenizer.encode("ok").unwrap();
        assert_eq!(batch.labels[1].len(), 3);
        assert!(batch.labels[1][ok.len()..]
            .iter()
            .all(|&l| l == IGNORE_INDEX));
        assert_eq!(batch.tasks, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(batch.source_tokens, 6 + short.len());
        assert_eq!(batch.target_tokens, 3 + ok.len());

        // With buckets (the default) the shapes round up; the real tokens stay the same.
        let bucketed = Batcher::new(tokenizer.clone(), 64, 64)
            .unwrap()
            .batch(
                &[example("a", long, long), example("b", "hi", "ok")],
                &device,
            )
            .unwrap();
        assert_eq!(bucketed.input_ids.dims(), [2, 16]);
        assert_eq!(bucketed.labels[0].len(), 16);
        assert_eq!(bucketed.source_tokens, full.len() + short.len());
        let mask: Vec<f32> = bucketed.attention_mask.into_data().try_to_vec().unwrap();
        assert_eq!(mask.iter().sum::<f32>() as usize, full.len() + short.len());
    }
}
