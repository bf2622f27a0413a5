//! Train / validation / test splits: from a `split` column, or assigned by a seeded hash of
//! the example id so the same id always lands in the same split for the same seed.
//!
//! Hashing uses FNV-1a (64-bit) for strings and SplitMix64 (Steele et al., 2014) to mix and
//! to draw numbers: tiny, dependency-free and identical on every platform.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which part of a dataset an example belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used for training.
    Train,
    /// Held out for model selection.
    Validation,
    /// Held out for final evaluation.
    Test,
}

impl Split {
    /// All splits, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Train),
            "validation" | "valid" | "val" | "dev" | "development" => Ok(Split::Validation),
            "test" | "testing" => Ok(Split::Test),
            other => Err(format!("unknown split `{other}`")),
        }
    }
}

/// Fractions of examples assigned to validation and test when a file has no `split` column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// Share of examples in the validation split, in `[0, 1]`.
    pub validation: f64,
    /// Share of examples in the test split, in `[0, 1]`.
    pub test: f64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            validation: 0.1,
            test: 0.1,
        }
    }
}

impl SplitSpec {
    /// Assigns `id` to a split: a pure function of `(id, seed)`.
    pub fn assign(&self, id: &str, seed: u64) -> Split {
        let draw = unit_f64(splitmix64(hash_str(id) ^ splitmix64(seed)));
        if draw < self.test {
            Split::Test
        } else if draw < self.test + self.validation {
            Split::Validation
        } else {
            Split::Train
        }
    }
}

/// SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes several words into one hash, in order.
pub fn mix(words: &[u64]) -> u64 {
    words.iter().fold(0x243F_6A88_85A3_08D3, |state, &word| {
        splitmix64(state ^ word)
    })
}

/// FNV-1a 64-bit hash of a string.
pub fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Maps 64 random bits to a float in `[0, 1)`.
pub fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_names() {
        assert_eq!("dev".parse::<Split>().unwrap(), Split::Validation);
        assert_eq!(" Train ".parse::<Split>().unwrap(), Split::Train);
        assert!("holdout".parse::<Split>().is_err());
    }

    #[test]
    fn seeded_assignment_is_stable_and_proportional() {
        let spec = SplitSpec {
            validation: 0.2,
            test: 0.1,
        };
        let ids: Vec<String> = (0..20_000).map(|i| format!("ex-{i}")).collect();
        let splits: Vec<Split> = ids.iter().map(|id| spec.assign(id, 7)).collect();
        let again: Vec<Split> = ids.iter().map(|id| spec.assign(id, 7)).collect();
        assert_eq!(splits, again);
        let share =
            |split| splits.iter().filter(|&&s| s == split).count() as f64 / ids.len() as f64;
        assert!((share(Split::Validation) - 0.2).abs() < 0.01);
        assert!((share(Split::Test) - 0.1).abs() < 0.01);
        let other_seed = ids
            .iter()
            .filter(|id| spec.assign(id, 8) != spec.assign(id, 7))
            .count();
        assert!(other_seed > 5_000, "seed must matter: {other_seed}");
    }

    #[test]
    fn splitmix64_known_value() {
        // First output of the reference SplitMix64 generator seeded with 0.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }
}
