//! Text length statistics against a limit (with a histogram), and the measure they count
//! in: tokens of a `tokenizer.json`, else whitespace words. Used by `data inspect` and the
//! mixture preview.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::tokenizer::{Result, T5Tokenizer};

/// The most tokens a source or a target may be given (`max_source_tokens`,
/// `max_new_tokens`, ...): T5's relative positions set no limit, but 32× the 512 tokens
/// Flan-T5 was trained on is past any use, and sizes derived from it never overflow.
pub const MAX_TOKENS: usize = 16_384;

/// Histogram buckets below the limit; one more bucket counts what exceeds it.
const BUCKETS: usize = 8;

/// Length statistics of a set of texts against a limit.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct LengthStats {
    /// Texts measured.
    pub count: usize,
    /// Shortest.
    pub min: usize,
    /// Median.
    pub median: usize,
    /// 95th percentile.
    pub p95: usize,
    /// Longest.
    pub max: usize,
    /// Mean.
    pub mean: f64,
    /// The limit (e.g. max source tokens).
    pub limit: usize,
    /// Texts longer than the limit (would be truncated).
    pub over_limit: usize,
    /// `BUCKETS` equal buckets up to the limit, then one for longer texts.
    pub histogram: Vec<Bucket>,
}

/// One histogram bucket: lengths in `low..=high` (`high` is `None` for "above the limit").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Bucket {
    /// Smallest length in the bucket.
    pub low: usize,
    /// Largest length in the bucket; `None` for the open-ended last one.
    pub high: Option<usize>,
    /// Texts in the bucket.
    pub count: usize,
}

impl LengthStats {
    /// Statistics of `lengths` against `limit`.
    pub fn new(lengths: &[usize], limit: usize) -> Self {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let quantile = |q: f64| {
            if sorted.is_empty() {
                0
            } else {
                sorted[((sorted.len() - 1) as f64 * q).round() as usize]
            }
        };
        let width = limit.div_ceil(BUCKETS).max(1);
        let mut histogram: Vec<Bucket> = (0..BUCKETS)
            .map(|index| Bucket {
                low: if index == 0 { 0 } else { index * width + 1 },
                high: Some(((index + 1) * width).min(limit)),
                count: 0,
            })
            .filter(|bucket| bucket.high.is_some_and(|high| bucket.low <= high))
            .collect();
        histogram.push(Bucket {
            low: limit + 1,
            high: None,
            count: 0,
        });
        for &length in &sorted {
            let index = histogram
                .iter()
                .position(|bucket| bucket.high.is_none_or(|high| length <= high))
                .unwrap_or(histogram.len() - 1);
            histogram[index].count += 1;
        }
        let total: usize = sorted.iter().sum();
        Self {
            count: sorted.len(),
            min: sorted.first().copied().unwrap_or(0),
            median: quantile(0.5),
            p95: quantile(0.95),
            max: sorted.last().copied().unwrap_or(0),
            mean: if sorted.is_empty() {
                0.0
            } else {
                total as f64 / sorted.len() as f64
            },
            limit,
            over_limit: sorted.iter().filter(|&&length| length > limit).count(),
            histogram,
        }
    }
}

impl fmt::Display for LengthStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "min {}  median {}  mean {:.1}  p95 {}  max {}  over {}: {} of {}",
            self.min,
            self.median,
            self.mean,
            self.p95,
            self.max,
            self.limit,
            self.over_limit,
            self.count
        )?;
        let widest = self
            .histogram
            .iter()
            .map(|bucket| bucket.count)
            .max()
            .unwrap_or(0)
            .max(1);
        for bucket in &self.histogram {
            let label = match bucket.high {
                Some(high) => format!("{:>5}-{:<5}", bucket.low, high),
                None => format!("{:>5}+     ", bucket.low),
            };
            let bar = "#".repeat((bucket.count * 40).div_ceil(widest));
            writeln!(f, "    {label} {:>6} {bar}", bucket.count)?;
        }
        Ok(())
    }
}

/// Loads a `tokenizer.json` (through [`T5Tokenizer`], which drops baked-in truncation and
/// padding) and returns a function counting tokens, `</s>` included.
pub fn token_counter(path: &Path) -> Result<impl Fn(&str) -> usize> {
    let tokenizer = T5Tokenizer::from_file(path)?;
    Ok(move |text: &str| tokenizer.encode(text).map_or(0, |ids| ids.len()))
}

/// Counts whitespace-separated words: the length measure when no tokenizer is given.
pub fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// A way to measure text length and the name of its unit.
pub struct LengthMeasure {
    /// `tokens` or `words`.
    pub unit: &'static str,
    /// Length of a text in `unit`.
    pub count: Box<dyn Fn(&str) -> usize>,
}

impl LengthMeasure {
    /// Token counts from `tokenizer` (a `tokenizer.json`), else whitespace word counts.
    pub fn new(tokenizer: Option<&Path>) -> Result<Self> {
        Ok(match tokenizer {
            Some(path) => Self {
                unit: "tokens",
                count: Box::new(token_counter(path)?),
            },
            None => Self {
                unit: "words",
                count: Box::new(count_words),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_stats_and_histogram() {
        let stats = LengthStats::new(&[1, 2, 3, 8, 9, 16, 17, 40], 16);
        assert_eq!(
            (stats.min, stats.median, stats.max, stats.over_limit),
            (1, 9, 40, 2)
        );
        let counts: Vec<usize> = stats.histogram.iter().map(|bucket| bucket.count).collect();
        // Buckets 0-2, 3-4, 5-6, ..., 15-16, then 17+.
        assert_eq!(counts, vec![2, 1, 0, 1, 1, 0, 0, 1, 2]);
        assert_eq!(stats.histogram[8].low, 17);
        assert_eq!(stats.histogram[1].low, 3);
    }
}
