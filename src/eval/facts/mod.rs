//! The "invented facts" check: the names, numbers, amounts, ids, dates and places of a
//! summary, each marked as found in the source (the chat) or invented.
//!
//! Written by hand: no crate extracts these deterministically without a model, and eval runs
//! it once per example, so it is one linear pass over each text with no regular expressions.
//!
//! **Extraction** (from the summary). The text is split into words; digits may carry `.`,
//! `,`, `:`, `/` and `-` between them (`3.5`, `1,200`, `12:30`, `5/12`), words may carry `-`
//! and apostrophes (`Jean-Luc`, `Tom's`), a word may start with `#`, `$`, `€`, `£` or `¥`
//! and end with `%`. DialogSum's speaker tags (`#Person1#`) are skipped. Then:
//! - `amount`: a number after a currency sign or before a currency word (`$40`, `40 dollars`);
//! - `date`: weekdays, months (with a day and year around them: `May 5th, 2023`, `5 May`),
//!   times (`12:30`, `3pm`, `3 p.m.`), `5/12`, `2023-01-05`, years 1900–2099;
//! - `id`: `#1234`, words mixing letters and digits (`A123`, `XJ-42`), and a number after an
//!   id word (`order 1234`, `room 305`, `flight 302`);
//! - `number`: any other number, percentages included (`3.5%`, `40 percent`); number words
//!   (`five`) are not extracted, but do match digits in the source;
//! - `name`: a run of capitalised words (`Grand Plaza Hotel`, `Mr. Smith`); at a sentence's
//!   start a single word only counts when it is not a common word (a stop list) and does not
//!   appear in lower case in either text (`Customers`, `Shopping`);
//! - `place`: a name after `in`, `at`, `from`, `near`, … (also over a `the`: `at the Ritz`;
//!   `to` only after a motion word such as `go` or `flight`), or one holding a place word
//!   (`Hotel`, `Street`, `Airport`, …).
//!
//! **Matching**. Each fact has one or more keys (a name's words without titles, a date's
//! month, day and year, a number's value); it is found when every key occurs among the
//! source's words under the same normalisation: lower case, `#`, currency signs, `%` and
//! thousands commas dropped, `:` read as `.` and trailing decimal zeros dropped
//! (`12:30` = `12.30`, `40.00` = `40`), ordinal and `am`/`pm` suffixes dropped, a plural or
//! possessive `s` dropped, month abbreviations spelt out, number words (`five`, `fifth`) as
//! digits. Every occurrence is listed, in the order of the summary.

use std::collections::HashSet;

mod extract;
mod lexicon;
mod normalise;
mod tokens;

use serde::{Deserialize, Serialize};

use extract::{extract, is_lowercase_word, weekday_abbreviation};
use normalise::{normalise, normalise_number};
use tokens::{tokenize, Token};

/// What a fact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum FactKind {
    Name,
    Number,
    Amount,
    Id,
    Date,
    Place,
}

impl FactKind {
    /// The lower-case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Name => "name",
            FactKind::Number => "number",
            FactKind::Amount => "amount",
            FactKind::Id => "id",
            FactKind::Date => "date",
            FactKind::Place => "place",
        }
    }
}

/// One fact of a summary: its text, kind, byte span in the summary, and whether the source
/// lacks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Fact {
    /// `summary[start..end]`.
    pub text: String,
    pub kind: FactKind,
    /// Byte offset of the first byte in the summary (UTF-8).
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
    /// Not found in the source.
    pub invented: bool,
}

/// A summary's facts and how many of them are invented.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct FactCheck {
    pub facts: Vec<Fact>,
    /// Facts with `invented: true`.
    pub invented: usize,
}

impl FactCheck {
    /// The invented share of the facts, 0 when there are none.
    pub fn rate(&self) -> f64 {
        if self.facts.is_empty() {
            0.0
        } else {
            self.invented as f64 / self.facts.len() as f64
        }
    }

    /// The texts of the invented facts, in order.
    pub fn invented_texts(&self) -> Vec<String> {
        self.facts
            .iter()
            .filter(|f| f.invented)
            .map(|f| f.text.clone())
            .collect()
    }
}

/// The facts of `summary`, each checked against `source`.
pub fn check_facts(source: &str, summary: &str) -> FactCheck {
    SourceIndex::new(source).check(summary)
}

/// A source's normalised words, built once and checked against any number of summaries.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    keys: HashSet<String>,
    lowercase_words: HashSet<String>,
}

impl SourceIndex {
    /// Indexes the words of `source`.
    pub fn new(source: &str) -> Self {
        let mut keys = HashSet::new();
        let mut lowercase_words = HashSet::new();
        let tokens = tokenize(source);
        keys.extend(spaced_number_keys(source, &tokens));
        for token in tokens {
            let key = normalise(token.text);
            if key.is_empty() {
                continue;
            }
            if is_lowercase_word(token.text) {
                lowercase_words.insert(key.clone());
            }
            // Capitalised weekday abbreviations (`Fri`) stand for the day.
            if let Some(day) = weekday_abbreviation(token.text) {
                keys.insert(day.to_string());
            }
            keys.insert(key);
        }
        Self {
            keys,
            lowercase_words,
        }
    }

    /// Whether the normalised `key` occurs in the source.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Whether a name's key occurs in the source, itself or as the place a demonym names
    /// (`american` = `america`, `chinese` = `china`, `canadian` = `canada`).
    fn contains_name(&self, key: &str) -> bool {
        if self.contains(key) {
            return true;
        }
        if key.chars().count() < 6 {
            return false;
        }
        let mut places = Vec::new();
        if let Some(stem) = key.strip_suffix('n') {
            places.push(stem.to_string());
        }
        if let Some(stem) = key.strip_suffix("ian") {
            places.push(format!("{stem}a"));
            places.push(format!("{stem}y"));
        }
        if let Some(stem) = key.strip_suffix("ese") {
            places.push(stem.to_string());
            places.push(format!("{stem}a"));
        }
        places.iter().any(|place| self.contains(place))
    }

    /// The facts of `summary`, each checked against this source.
    pub fn check(&self, summary: &str) -> FactCheck {
        let tokens = tokenize(summary);
        let mut lowercase_words: HashSet<String> = tokens
            .iter()
            .filter(|t| is_lowercase_word(t.text))
            .map(|t| normalise(t.text))
            .collect();
        lowercase_words.extend(self.lowercase_words.iter().cloned());
        let found = extract(summary, &tokens, &lowercase_words);
        let facts: Vec<Fact> = found
            .into_iter()
            .map(|raw| Fact {
                text: summary[raw.start..raw.end].to_string(),
                kind: raw.kind,
                start: raw.start,
                end: raw.end,
                invented: !raw.keys.iter().all(|key| match raw.kind {
                    FactKind::Name | FactKind::Place => self.contains_name(key),
                    _ => self.contains(key),
                }),
            })
            .collect();
        let invented = facts.iter().filter(|f| f.invented).count();
        FactCheck { facts, invented }
    }
}

/// Keys of numbers a source spreads over several words: `20, 000` (DialogSum's spacing) is
/// `20000`, `12 dollars 50 cents` is `12.5`.
fn spaced_number_keys(text: &str, tokens: &[Token]) -> Vec<String> {
    let digits = |t: &Token| !t.text.is_empty() && t.text.bytes().all(|b| b.is_ascii_digit());
    let mut keys = Vec::new();
    for (i, pair) in tokens.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        if digits(a) && digits(b) && b.text.len() == 3 && &text[a.end..b.start] == ", " {
            // Longer runs (`1, 000, 000`) join step by step.
            let mut joined = format!("{}{}", a.text, b.text);
            let mut j = i + 2;
            while let Some(c) = tokens.get(j) {
                let sep = &text[tokens[j - 1].end..c.start];
                if !(digits(c) && c.text.len() == 3 && (sep == ", " || sep == ",")) {
                    break;
                }
                joined.push_str(c.text);
                j += 1;
            }
            keys.push(joined);
        }
    }
    for quad in tokens.windows(4) {
        let unit = |t: &Token, names: &[&str]| names.contains(&t.text.to_lowercase().as_str());
        if digits(&quad[0])
            && unit(
                &quad[1],
                &["dollar", "dollars", "euro", "euros", "pound", "pounds"],
            )
            && digits(&quad[2])
            && quad[2].text.len() <= 2
            && unit(&quad[3], &["cent", "cents", "pence", "p"])
        {
            keys.push(normalise_number(&format!(
                "{}.{:0>2}",
                quad[0].text, quad[2].text
            )));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        tokenize(text).iter().map(|t| t.text).collect()
    }

    #[test]
    fn tokenizer_keeps_numbers_whole_and_skips_speaker_tags() {
        assert_eq!(
            words("#Person1#: pay $1,200.50 at 12:30, 3.5% off #A12 Tom's."),
            [
                "pay",
                "$1,200.50",
                "at",
                "12:30",
                "3.5%",
                "off",
                "#A12",
                "Tom's"
            ]
        );
    }

    #[test]
    fn sentence_starts_follow_stops_but_not_titles() {
        let tokens = tokenize("Hi there. Mr. Smith came! Then");
        let starts: Vec<(&str, bool)> = tokens.iter().map(|t| (t.text, t.sentence_start)).collect();
        assert_eq!(
            starts,
            [
                ("Hi", true),
                ("there", false),
                ("Mr", true),
                ("Smith", false),
                ("came", false),
                ("Then", true)
            ]
        );
    }

    #[test]
    fn keys_normalise_case_digits_signs_and_plurals() {
        assert_eq!(normalise("#1234"), "1234");
        assert_eq!(normalise("$40.00"), "40");
        assert_eq!(normalise("1,200"), "1200");
        assert_eq!(normalise("12:30"), normalise("12.30"));
        assert_eq!(normalise("5th"), "5");
        assert_eq!(normalise("3pm"), "3");
        assert_eq!(normalise("five"), "5");
        assert_eq!(normalise("Dollars"), "dollar");
        assert_eq!(normalise("Ross"), "ross");
        assert_eq!(normalise("Tom’s"), "tom");
        assert_eq!(normalise("Sept"), "september");
        assert_eq!(normalise("A-12"), "a12");
    }
}
