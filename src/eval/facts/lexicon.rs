//! The word lists the facts check reads: data files in `lexicon/` (one word per line, `#`
//! starts a comment), read once; and the few fixed sets (months, weekdays, currency signs).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// A word list from a data file, as a set on first use.
pub(super) struct Lexicon {
    text: &'static str,
    words: OnceLock<HashSet<&'static str>>,
}

impl Lexicon {
    const fn new(text: &'static str) -> Self {
        Self {
            text,
            words: OnceLock::new(),
        }
    }

    /// Whether `word` is in the list (exactly: lists are lower case where case matters).
    pub(super) fn contains(&self, word: &str) -> bool {
        self.words
            .get_or_init(|| entries(self.text).collect())
            .contains(word)
    }
}

/// The lines of a list that are not blank or comments, trimmed.
fn entries(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Words after a number that make it money.
pub(super) static CURRENCY_WORDS: Lexicon =
    Lexicon::new(include_str!("lexicon/currency_words.txt"));

/// Words before a number that make it an id.
pub(super) static ID_WORDS: Lexicon = Lexicon::new(include_str!("lexicon/id_words.txt"));

/// Suffixes a number may carry and still be a number (`5th`, `3pm`, `10km`, `1990s`).
pub(super) static NUMBER_SUFFIXES: Lexicon =
    Lexicon::new(include_str!("lexicon/number_suffixes.txt"));

/// Titles before a name; not part of its keys.
pub(super) static TITLES: Lexicon = Lexicon::new(include_str!("lexicon/titles.txt"));

/// Lower-case words inside a name (`Bank of China`, `Ludwig van Beethoven`).
pub(super) static CONNECTORS: Lexicon = Lexicon::new(include_str!("lexicon/connectors.txt"));

/// Capitalised words that are never names.
pub(super) static NEVER_NAMES: Lexicon = Lexicon::new(include_str!("lexicon/never_names.txt"));

/// Common words that start sentences; at a sentence's start they are not names.
pub(super) static STOP_WORDS: Lexicon = Lexicon::new(include_str!("lexicon/stop_words.txt"));

/// Words before a name that make it a place.
pub(super) static PLACE_PREPOSITIONS: Lexicon =
    Lexicon::new(include_str!("lexicon/place_prepositions.txt"));

/// Words before `to` that make the name after it a place (`go to Paris`, `flight to Rome`).
pub(super) static MOTION_WORDS: Lexicon = Lexicon::new(include_str!("lexicon/motion_words.txt"));

/// Words in a name that make it a place.
pub(super) static PLACE_WORDS: Lexicon = Lexicon::new(include_str!("lexicon/place_words.txt"));

/// The digits a number word stands for (cardinal and ordinal: `five`, `fifth` → `5`).
pub(super) fn number_word(word: &str) -> Option<&'static str> {
    static WORDS: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    WORDS
        .get_or_init(|| {
            entries(include_str!("lexicon/number_words.txt"))
                .filter_map(|line| line.split_once(' '))
                .collect()
        })
        .get(word)
        .copied()
}

pub(super) const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

pub(super) const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

pub(super) const CURRENCY_SIGNS: [char; 4] = ['$', '€', '£', '¥'];

pub(super) fn has_digit(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_digit())
}

/// Splits `40kg` into `40` and `kg`, when the word is digits then letters.
pub(super) fn digits_and_suffix(word: &str) -> Option<(&str, &str)> {
    let split = word.find(|c: char| c.is_ascii_alphabetic())?;
    let (digits, suffix) = word.split_at(split);
    let numeric = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || ".,:".contains(c))
        && suffix.chars().all(|c| c.is_ascii_alphabetic());
    numeric.then_some((digits, suffix))
}

pub(super) fn month_abbreviation(lower: &str) -> Option<&'static str> {
    let index = match lower {
        "jan" => 0,
        "feb" => 1,
        "mar" => 2,
        "apr" => 3,
        "jun" => 5,
        "jul" => 6,
        "aug" => 7,
        "sep" | "sept" => 8,
        "oct" => 9,
        "nov" => 10,
        "dec" => 11,
        _ => return None,
    };
    Some(MONTHS[index])
}

pub(super) fn is_title(word: &str) -> bool {
    TITLES.contains(word.to_lowercase().as_str())
}
