//! Validation during training: teacher-forced loss and greedy-generation ROUGE per task on a
//! fixed held-out sample, with a few predictions to show.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use burn::module::Module;

use super::batch::Batcher;
use super::events::{EvalMetrics, SamplePrediction, TaskEval};
use crate::data::tokenizer::T5Tokenizer;
use crate::device::kernel_shapes::pad_rows;
use crate::error::Result;
use crate::eval::rouge::MeanRouge;
use crate::eval::{facts, rouge};
use crate::generate::{generate, Decoding, GenerationConfig};
use crate::mixture::RenderedExample;
use crate::model::t5::IGNORE_INDEX;
use crate::model::{GenerationDefaults, T5ForConditionalGeneration};

/// A fixed validation sample and how to score it.
pub struct Validator {
    /// The examples, grouped by task in mixture order.
    pub examples: Vec<RenderedExample>,
    pub batcher: Batcher,
    pub tokenizer: T5Tokenizer,
    pub defaults: GenerationDefaults,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Pad a task's last, smaller chunk to `batch_size` rows (copies of its last example, whose
    /// labels are ignored and whose predictions are dropped), as a GPU wants
    /// ([`crate::device::kernel_shapes::pads_batches`]: a new batch size would compile and
    /// tune kernels of its own).
    pub pad_to_batch: bool,
    pub max_new_tokens: usize,
    /// Predictions to include in the result.
    pub samples: usize,
    /// `[[watch]]` tasks among the examples: reported apart and left out of `val_loss`.
    pub watched: BTreeSet<String>,
}

/// Per task: sum of loss × target tokens, target tokens, the ROUGE sums, and the facts of
/// the predictions with those the sources lack.
#[derive(Default)]
struct TaskSums {
    loss_tokens: f64,
    tokens: usize,
    rouge: [f64; 4],
    examples: usize,
    facts: usize,
    invented: usize,
}

impl Validator {
    /// Scores `model` (any device; run without autodiff). The metric fields (`metric`,
    /// `best`) are left for the caller.
    pub fn run(&self, model: &T5ForConditionalGeneration, step: usize) -> Result<EvalMetrics> {
        let started = Instant::now();
        let model = model.valid();
        let device = model.device();
        let config = GenerationConfig {
            max_new_tokens: self.max_new_tokens,
            ..GenerationConfig::default()
        };
        let vocab = self.tokenizer.vocab_size();
        let mut sums: BTreeMap<String, TaskSums> = BTreeMap::new();
        let mut samples = Vec::new();
        let mut total = (0.0f64, 0usize);
        let chunks = self
            .examples
            .chunk_by(|a, b| a.task == b.task)
            .flat_map(|task_examples| task_examples.chunks(self.batch_size.max(1)));
        for chunk in chunks {
            let padded = pad_rows(chunk.to_vec(), self.batch_size, self.pad_to_batch);
            // One task per chunk: the batch's token-mean loss weighted by its target tokens
            // (the padding rows' labels ignored, so they count for nothing).
            let mut batch = self.batcher.batch(&padded, &device)?;
            for labels in &mut batch.labels[chunk.len()..] {
                labels.fill(IGNORE_INDEX);
            }
            let tokens = (batch.labels.iter().flatten())
                .filter(|&&id| id != IGNORE_INDEX)
                .count();
            let loss = model
                .loss(batch.input_ids, batch.attention_mask, &batch.labels)
                .into_scalar::<f32>() as f64;
            let entry = sums.entry(chunk[0].task.clone()).or_default();
            entry.loss_tokens += loss * tokens as f64;
            entry.tokens += tokens;
            if !self.watched.contains(&chunk[0].task) {
                total.0 += loss * tokens as f64;
                total.1 += tokens;
            }
            let prompts = padded
                .iter()
                .map(|example| self.batcher.encode(example).map(|(source, _)| source))
                .collect::<Result<Vec<_>>>()?;
            let decoding = Decoding {
                config: &config,
                defaults: &self.defaults,
                vocab_limit: vocab,
            };
            let outputs = generate(&model, &prompts, decoding)?;
            // `zip` stops at the chunk's own rows: the padding's predictions are dropped.
            for (example, ids) in chunk.iter().zip(outputs) {
                let prediction = self.tokenizer.decode(&ids)?;
                let scores = rouge::score(&prediction, &example.target, true);
                let entry = sums.entry(example.task.clone()).or_default();
                entry.rouge[0] += scores.rouge1.fmeasure;
                entry.rouge[1] += scores.rouge2.fmeasure;
                entry.rouge[2] += scores.rouge_l.fmeasure;
                entry.rouge[3] += scores.rouge_lsum.fmeasure;
                entry.examples += 1;
                let check = facts::check_facts(&example.source, &prediction);
                entry.facts += check.facts.len();
                entry.invented += check.invented;
                if samples.len() < self.samples {
                    samples.push(SamplePrediction {
                        task: example.task.clone(),
                        example_id: example.example_id.clone(),
                        source: example.source.clone(),
                        reference: example.target.clone(),
                        prediction,
                    });
                }
            }
        }
        let mut tasks: BTreeMap<String, TaskEval> = sums
            .into_iter()
            .map(|(task, s)| {
                let n = s.examples.max(1) as f64;
                let eval = TaskEval {
                    loss: s.loss_tokens / s.tokens.max(1) as f64,
                    rouge: MeanRouge {
                        rouge1: s.rouge[0] / n,
                        rouge2: s.rouge[1] / n,
                        rouge_l: s.rouge[2] / n,
                        rouge_lsum: s.rouge[3] / n,
                    },
                    examples: s.examples,
                    invented_rate: s.invented as f64 / s.facts.max(1) as f64,
                };
                (task, eval)
            })
            .collect();
        let watched = tasks
            .extract_if(.., |task, _| self.watched.contains(task))
            .collect();
        Ok(EvalMetrics {
            step,
            val_loss: total.0 / total.1.max(1) as f64,
            tasks,
            watched,
            forgetting: None,
            metric: f64::NAN,
            best: false,
            samples,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
