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

use serde::{Deserialize, Serialize};

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

/// A word of a text with its byte span.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    /// The first word of the text or of a sentence.
    sentence_start: bool,
    /// Only spaces separate it from the word before.
    spaced: bool,
}

const CURRENCY_SIGNS: [char; 4] = ['$', '€', '£', '¥'];

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Splits `text` into words (see the module doc), skipping speaker tags like `#Person1#`.
fn tokenize(text: &str) -> Vec<Token<'_>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(text.len(), |&(o, _)| o);
    let mut tokens: Vec<Token> = Vec::new();
    let mut sentence_start = true;
    let mut gap_start = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if let Some(end) = speaker_tag_end(&chars, i) {
            i = end;
            gap_start = offset(i);
            sentence_start = false;
            continue;
        }
        let prefixed = (c == '#' || CURRENCY_SIGNS.contains(&c))
            && at(i + 1).is_some_and(char::is_alphanumeric);
        if !(c.is_alphanumeric() || prefixed) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while let Some(c) = at(i) {
            let prev = at(i - 1).unwrap_or(' ');
            let next = at(i + 1);
            let keep = if c.is_alphanumeric() {
                true
            } else if matches!(c, '.' | ',' | ':' | '/') {
                prev.is_ascii_digit() && next.is_some_and(|n| n.is_ascii_digit())
            } else if c == '-' {
                prev.is_alphanumeric() && next.is_some_and(char::is_alphanumeric)
            } else if is_apostrophe(c) {
                prev.is_alphabetic() && next.is_some_and(char::is_alphabetic)
            } else {
                false
            };
            if !keep {
                break;
            }
            i += 1;
        }
        if at(i) == Some('%') && at(i - 1).is_some_and(|p| p.is_ascii_digit()) {
            i += 1;
        }
        let (start_byte, end_byte) = (offset(start), offset(i));
        let gap = &text[gap_start..start_byte];
        let spaced = !tokens.is_empty() && !gap.is_empty() && gap.chars().all(|c| c == ' ');
        let word = &text[start_byte..end_byte];
        if gap.contains(['.', '!', '?', '\n', ':', ';']) {
            let after_title = tokens.last().is_some_and(|t| is_title(t.text));
            sentence_start = sentence_start || !after_title;
        }
        tokens.push(Token {
            text: word,
            start: start_byte,
            end: end_byte,
            sentence_start,
            spaced,
        });
        sentence_start = false;
        gap_start = end_byte;
    }
    tokens
}

/// The index past a speaker tag (`#Person1#`, `#Guest#`) starting at `i`.
fn speaker_tag_end(chars: &[(usize, char)], i: usize) -> Option<usize> {
    if chars[i].1 != '#' {
        return None;
    }
    let mut j = i + 1;
    let letters = j;
    while chars.get(j).is_some_and(|&(_, c)| c.is_ascii_alphabetic()) {
        j += 1;
    }
    if j == letters {
        return None;
    }
    while chars.get(j).is_some_and(|&(_, c)| c.is_ascii_digit()) {
        j += 1;
    }
    (chars.get(j).map(|&(_, c)| c) == Some('#')).then_some(j + 1)
}

/// A fact before its text is cut out and checked.
struct RawFact {
    kind: FactKind,
    start: usize,
    end: usize,
    keys: Vec<String>,
}

fn has_digit(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_digit())
}

fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

fn is_lowercase_word(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_lowercase) && !word.chars().any(char::is_uppercase)
}

/// The facts of a summary's tokens, in order.
fn extract(text: &str, tokens: &[Token], lowercase_words: &HashSet<String>) -> Vec<RawFact> {
    let mut facts: Vec<RawFact> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let next = i + 1;
        if has_digit(token.text) {
            let (fact, used) = number_fact(tokens, i);
            // `5 May`, `5th of May`: a day just before a month joins its date.
            let of = tokens.get(i + used).is_some_and(|t| t.text == "of");
            let month_at = i + used + usize::from(of);
            if let Some((date, used_date)) = month_date(tokens, month_at, true) {
                if fact.kind == FactKind::Number && joins_month(text, &fact, &date) {
                    let used_date = used_date + usize::from(of);
                    let mut keys = fact.keys;
                    keys.extend(date.keys);
                    facts.push(RawFact {
                        kind: FactKind::Date,
                        start: fact.start,
                        end: date.end,
                        keys,
                    });
                    i += used + used_date;
                    continue;
                }
            }
            facts.push(fact);
            i += used;
            continue;
        }
        if let Some((date, used)) = month_date(tokens, i, false) {
            facts.push(date);
            i += used;
            continue;
        }
        if is_capitalised(token.text) && weekday(token.text).is_some() {
            facts.push(RawFact {
                kind: FactKind::Date,
                start: token.start,
                end: token.end,
                keys: vec![normalise(token.text)],
            });
            i = next;
            continue;
        }
        let (name, used) = name_fact(tokens, i, lowercase_words);
        facts.extend(name);
        i += used;
    }
    facts
}

/// Whether a number fact and the month date right after it read as one date.
fn joins_month(text: &str, number: &RawFact, date: &RawFact) -> bool {
    let between = text[number.end..date.start].trim();
    let value = number.keys.first().and_then(|k| k.parse::<u32>().ok());
    (between.is_empty() || between.eq_ignore_ascii_case("of"))
        && value.is_some_and(|v| (1..=31).contains(&v))
}

/// Words after a number that make it money.
const CURRENCY_WORDS: &[&str] = &[
    "dollar", "dollars", "buck", "bucks", "cent", "cents", "euro", "euros", "pound", "pounds",
    "yuan", "rmb", "usd", "eur", "gbp", "yen", "pence", "quid", "rupee", "rupees", "franc",
    "francs",
];

/// Words before a number that make it an id.
const ID_WORDS: &[&str] = &[
    "order",
    "room",
    "flight",
    "ticket",
    "account",
    "booking",
    "reference",
    "ref",
    "number",
    "no",
    "invoice",
    "case",
    "tracking",
    "confirmation",
    "seat",
    "gate",
    "table",
    "platform",
    "bus",
    "extension",
    "ext",
    "code",
    "id",
    "pin",
    "apartment",
    "suite",
    "unit",
    "card",
    "policy",
    "model",
    "serial",
    "item",
];

/// Suffixes a number may carry and still be a number (`5th`, `3pm`, `10km`, `1990s`).
const NUMBER_SUFFIXES: &[&str] = &[
    "st", "nd", "rd", "th", "am", "pm", "s", "k", "m", "kg", "g", "km", "cm", "mm", "ml", "l",
    "mb", "gb", "tb", "h", "hr", "hrs", "min", "mins", "sec", "lb", "lbs", "oz", "ft", "in",
];

/// Splits `40kg` into `40` and `kg`, when the word is digits then letters.
fn digits_and_suffix(word: &str) -> Option<(&str, &str)> {
    let split = word.find(|c: char| c.is_ascii_alphabetic())?;
    let (digits, suffix) = word.split_at(split);
    let numeric = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || ".,:".contains(c))
        && suffix.chars().all(|c| c.is_ascii_alphabetic());
    numeric.then_some((digits, suffix))
}

/// The lower-case word of `tokens[i]`, when spaced from the word before it.
fn spaced_word(tokens: &[Token], i: usize) -> Option<String> {
    tokens
        .get(i)
        .filter(|t| t.spaced)
        .map(|t| t.text.to_lowercase())
}

/// A fact for the number-like word `tokens[i]` and how many words it takes.
fn number_fact(tokens: &[Token], i: usize) -> (RawFact, usize) {
    let token = tokens[i];
    let word = token.text;
    let lower = word.to_lowercase();
    let key = normalise(word);
    let fact = |kind, end: usize| RawFact {
        kind,
        start: token.start,
        end,
        keys: vec![key.clone()],
    };
    let first = word.chars().next().unwrap_or(' ');
    if first == '#' {
        return (fact(FactKind::Id, token.end), 1);
    }
    let next_word = spaced_word(tokens, i + 1);
    if CURRENCY_SIGNS.contains(&first) {
        return (fact(FactKind::Amount, token.end), 1);
    }
    if let Some(unit) = &next_word {
        if CURRENCY_WORDS.contains(&unit.as_str()) {
            return (fact(FactKind::Amount, tokens[i + 1].end), 2);
        }
        if unit == "percent" {
            return (fact(FactKind::Number, tokens[i + 1].end), 2);
        }
        // `3 p.m.` (the tokenizer gives `p` and `m`), `3 pm`, `3 o'clock`.
        if unit == "p" || unit == "a" {
            let m = tokens.get(i + 2).is_some_and(|t| t.text == "m");
            if m && tokens[i + 1].end + 1 == tokens[i + 2].start {
                return (fact(FactKind::Date, tokens[i + 2].end), 3);
            }
        }
        if unit == "am" || unit == "pm" || unit == "o'clock" || unit == "o’clock" {
            return (fact(FactKind::Date, tokens[i + 1].end), 2);
        }
    }
    if word.ends_with('%') {
        return (fact(FactKind::Number, token.end), 1);
    }
    if word.contains(':') {
        return (fact(FactKind::Date, token.end), 1);
    }
    if word.contains('/') || is_iso_date(word) {
        return (fact(FactKind::Date, token.end), 1);
    }
    if word.chars().any(char::is_alphabetic) {
        let hyphenated_number = word
            .split_once('-')
            .is_some_and(|(n, rest)| n.bytes().all(|b| b.is_ascii_digit()) && !has_digit(rest));
        let kind = match digits_and_suffix(word) {
            _ if hyphenated_number => FactKind::Number,
            Some((_, suffix)) if suffix.eq_ignore_ascii_case("am") => FactKind::Date,
            Some((_, suffix)) if suffix.eq_ignore_ascii_case("pm") => FactKind::Date,
            Some((_, suffix)) if NUMBER_SUFFIXES.contains(&suffix.to_lowercase().as_str()) => {
                FactKind::Number
            }
            _ => FactKind::Id,
        };
        return (fact(kind, token.end), 1);
    }
    let previous = (i > 0 && token.spaced).then(|| tokens[i - 1].text.to_lowercase());
    if previous.is_some_and(|p| ID_WORDS.contains(&p.as_str())) {
        return (fact(FactKind::Id, token.end), 1);
    }
    if lower.len() == 4
        && lower
            .parse::<u32>()
            .is_ok_and(|y| (1900..=2099).contains(&y))
    {
        return (fact(FactKind::Date, token.end), 1);
    }
    (fact(FactKind::Number, token.end), 1)
}

/// `2023-01-05`.
fn is_iso_date(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

const MONTHS: [&str; 12] = [
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

/// The month a capitalised word names (`March`, `Dec`, `Sept`).
fn month(word: &str) -> Option<&'static str> {
    if !is_capitalised(word) {
        return None;
    }
    let lower = word.to_lowercase();
    if let Some(full) = MONTHS.iter().find(|m| **m == lower) {
        return Some(full);
    }
    month_abbreviation(&lower)
}

fn month_abbreviation(lower: &str) -> Option<&'static str> {
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

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The weekday a word names (`Monday`, `Fridays`).
fn weekday(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    let lower = lower.strip_suffix('s').unwrap_or(&lower);
    WEEKDAYS.iter().find(|d| **d == lower).copied()
}

/// The weekday a capitalised abbreviation names (`Mon`, `Thurs`).
fn weekday_abbreviation(word: &str) -> Option<&'static str> {
    if !is_capitalised(word) {
        return None;
    }
    let index = match word.to_lowercase().as_str() {
        "mon" => 0,
        "tue" | "tues" => 1,
        "wed" => 2,
        "thu" | "thur" | "thurs" => 3,
        "fri" => 4,
        "sat" => 5,
        "sun" => 6,
        _ => return None,
    };
    Some(WEEKDAYS[index])
}

/// A date starting with a month at `tokens[i]` (`May 5th, 2023`, `March`), and the words it
/// takes. `May` alone counts only before or `after_day`, or after `in`, `on`, `of`, ….
fn month_date(tokens: &[Token], i: usize, after_day: bool) -> Option<(RawFact, usize)> {
    let token = tokens.get(i)?;
    let name = month(token.text)?;
    let mut keys = vec![name.to_string()];
    let mut end = token.end;
    let mut used = 1;
    let day = tokens
        .get(i + 1)
        .filter(|t| t.spaced)
        .map(|t| normalise(t.text))
        .filter(|k| k.parse::<u32>().is_ok_and(|d| (1..=31).contains(&d)));
    if let Some(day) = day {
        keys.push(day);
        end = tokens[i + 1].end;
        used = 2;
        let year = tokens.get(i + 2).filter(|t| {
            t.text.len() == 4
                && t.text
                    .parse::<u32>()
                    .is_ok_and(|y| (1900..=2099).contains(&y))
        });
        if let Some(year) = year {
            keys.push(year.text.to_string());
            end = year.end;
            used = 3;
        }
    } else if name == "may" && !after_day {
        let before = (i > 0).then(|| tokens[i - 1].text.to_lowercase());
        let dated = before.is_some_and(|b| {
            ["in", "on", "of", "since", "until", "by", "early", "late"].contains(&b.as_str())
        });
        if !dated {
            return None;
        }
    }
    Some((
        RawFact {
            kind: FactKind::Date,
            start: token.start,
            end,
            keys,
        },
        used,
    ))
}

/// Titles before a name; not part of its keys.
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam", "mx", "st",
];

/// Whether `word` (without an `'s`, `'ll`, … ending) is in [`STOP_WORDS`].
fn is_stop_word(word: &str) -> bool {
    let lower = word.to_lowercase();
    let plain = lower.split(is_apostrophe).next().unwrap_or(&lower);
    STOP_WORDS.contains(&plain)
}

fn is_title(word: &str) -> bool {
    TITLES.contains(&word.to_lowercase().as_str())
}

/// Lower-case words inside a name (`Bank of China`, `Ludwig van Beethoven`).
const CONNECTORS: &[&str] = &[
    "of", "de", "da", "del", "der", "van", "von", "la", "le", "du",
];

/// Capitalised words that are never names.
const NEVER_NAMES: &[&str] = &["i", "i'm", "i'll", "i'd", "i've", "ok", "okay", "id"];

/// Common words that start sentences; at a sentence's start they are not names.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "there",
    "then",
    "they",
    "he",
    "she",
    "it",
    "we",
    "you",
    "i",
    "his",
    "her",
    "its",
    "their",
    "our",
    "your",
    "my",
    "both",
    "all",
    "each",
    "every",
    "everyone",
    "everybody",
    "someone",
    "somebody",
    "nobody",
    "no",
    "not",
    "none",
    "one",
    "two",
    "some",
    "many",
    "most",
    "several",
    "few",
    "after",
    "before",
    "when",
    "while",
    "since",
    "because",
    "as",
    "if",
    "but",
    "and",
    "or",
    "so",
    "yet",
    "also",
    "finally",
    "later",
    "now",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
    "first",
    "second",
    "next",
    "last",
    "meanwhile",
    "however",
    "although",
    "though",
    "in",
    "on",
    "at",
    "to",
    "from",
    "for",
    "with",
    "without",
    "by",
    "during",
    "about",
    "of",
    "over",
    "under",
    "what",
    "who",
    "why",
    "how",
    "where",
    "which",
    "whose",
    "here",
    "only",
    "even",
    "just",
    "maybe",
    "perhaps",
    "please",
    "thanks",
    "thank",
    "yes",
    "hello",
    "hi",
    "dear",
    "well",
    "oh",
    "is",
    "are",
    "was",
    "were",
    "will",
    "would",
    "can",
    "could",
    "should",
    "do",
    "does",
    "did",
    "has",
    "have",
    "had",
    "let",
    "according",
    "instead",
    "again",
    "still",
    "once",
    "other",
    "another",
    "such",
    "than",
    "very",
    "too",
    "more",
    "less",
    "much",
    "any",
    "anyone",
    "anything",
    "something",
    "nothing",
    "everything",
    "people",
    "customer",
    "agent",
    "person",
    "user",
    "speaker",
    "summary",
    "man",
    "woman",
    "boy",
    "girl",
    "guest",
    "staff",
    "eventually",
    "together",
    "due",
    "being",
    "thus",
    "therefore",
    "unlike",
    "besides",
    "despite",
    "afterwards",
    "hence",
    "otherwise",
    "actually",
    "fortunately",
    "sadly",
    "apparently",
    "obviously",
    "initially",
    "informed",
    "asked",
    "told",
    "soon",
    "unfortunately",
    "luckily",
    "because",
    "whether",
];

/// Words before a name that make it a place.
const PLACE_PREPOSITIONS: &[&str] = &[
    "in", "at", "from", "near", "into", "via", "towards", "toward", "around", "outside", "inside",
    "visit", "visits", "visited", "visiting", "across", "through",
];

/// Words before `to` that make the name after it a place (`go to Paris`, `flight to Rome`).
const MOTION_WORDS: &[&str] = &[
    "go",
    "goes",
    "went",
    "going",
    "gone",
    "fly",
    "flies",
    "flew",
    "flying",
    "travel",
    "travels",
    "traveled",
    "travelled",
    "traveling",
    "travelling",
    "move",
    "moves",
    "moved",
    "moving",
    "return",
    "returns",
    "returned",
    "returning",
    "back",
    "trip",
    "ticket",
    "tickets",
    "flight",
    "flights",
    "come",
    "comes",
    "came",
    "coming",
    "drive",
    "drives",
    "drove",
    "driving",
    "way",
    "train",
    "bus",
    "head",
    "heading",
    "headed",
    "get",
    "gets",
    "got",
    "walk",
    "walks",
    "walked",
    "ride",
    "sent",
    "send",
    "ship",
    "shipped",
    "deliver",
    "delivered",
    "transfer",
    "transferred",
];

/// Words in a name that make it a place.
const PLACE_WORDS: &[&str] = &[
    "hotel",
    "street",
    "road",
    "avenue",
    "ave",
    "city",
    "airport",
    "station",
    "park",
    "restaurant",
    "cafe",
    "café",
    "university",
    "hospital",
    "mall",
    "square",
    "bridge",
    "museum",
    "beach",
    "lake",
    "river",
    "mountain",
    "mountains",
    "island",
    "islands",
    "county",
    "state",
    "province",
    "center",
    "centre",
    "market",
    "school",
    "college",
    "library",
    "theatre",
    "theater",
    "church",
    "inn",
    "bar",
    "club",
    "building",
    "tower",
    "plaza",
    "district",
    "village",
    "town",
    "lane",
    "boulevard",
    "resort",
    "motel",
    "hall",
    "stadium",
    "zoo",
    "gallery",
    "palace",
    "castle",
    "bay",
    "valley",
    "coast",
    "port",
    "harbor",
    "harbour",
    "terminal",
    "cinema",
    "supermarket",
    "store",
    "shop",
    "pub",
    "bistro",
    "grill",
];

/// A name (or place) starting at `tokens[i]`, if the words there make one, and the words
/// looked at (a rejected run of capitalised words is skipped whole).
fn name_fact(
    tokens: &[Token],
    i: usize,
    lowercase_words: &HashSet<String>,
) -> (Option<RawFact>, usize) {
    let is_name_word = |t: &Token| {
        is_capitalised(t.text)
            && !has_digit(t.text)
            && !NEVER_NAMES.contains(&t.text.to_lowercase().as_str())
            && month(t.text).is_none()
            && weekday(t.text).is_none()
            && t.text.chars().count() > 1
    };
    if !is_name_word(&tokens[i]) {
        return (None, 1);
    }
    // The run of capitalised words, with connectors between them.
    let mut last = i;
    let mut j = i + 1;
    while j < tokens.len() {
        let t = &tokens[j];
        let title_dot =
            is_title(tokens[j - 1].text) && t.start == tokens[j - 1].end + 2 && !t.sentence_start;
        if !(t.spaced || title_dot) {
            break;
        }
        if is_name_word(t) {
            last = j;
            j += 1;
        } else if CONNECTORS.contains(&t.text)
            && tokens
                .get(j + 1)
                .is_some_and(|n| n.spaced && is_name_word(n))
        {
            j += 1;
        } else {
            break;
        }
    }
    let used = last - i + 1;
    let at_sentence_start = tokens[i].sentence_start;
    let mut first = i;
    // At a sentence's start, a common word is not part of the name (`The Hilton`).
    let common = |t: &Token| is_stop_word(t.text) || lowercase_words.contains(&normalise(t.text));
    if at_sentence_start && common(&tokens[i]) {
        first = i + 1;
        if first > last {
            return (None, used);
        }
    }
    let words = &tokens[first..=last];
    let keys: Vec<String> = words
        .iter()
        .filter(|t| !is_title(t.text) && !CONNECTORS.contains(&t.text))
        .map(|t| normalise(t.text))
        .collect();
    if keys.is_empty() {
        // A title alone (`Mr`) names no one.
        return (None, used);
    }
    // A single capitalised word at a sentence's start may be an ordinary word; elsewhere a
    // capitalised stop word (`They`) is a slip, except the name `Will`.
    if words.len() == 1 {
        let slip = is_stop_word(words[0].text) && !words[0].text.eq_ignore_ascii_case("will");
        if (at_sentence_start && common(&words[0])) || slip {
            return (None, used);
        }
    }
    let start = tokens[first].start;
    let end = strip_possessive_end(tokens[last]);
    // The words before the name, over a `the` (`at the Ritz`).
    let word_before =
        |k: usize| (k > 0 && tokens[k].spaced).then(|| tokens[k - 1].text.to_lowercase());
    let mut at = first;
    let mut before = word_before(at);
    if before.as_deref() == Some("the") {
        at -= 1;
        before = word_before(at);
    }
    let before_to = at.checked_sub(1).and_then(word_before);
    let after_preposition = before
        .as_deref()
        .is_some_and(|b| PLACE_PREPOSITIONS.contains(&b))
        || (before.as_deref() == Some("to")
            && before_to
                .as_deref()
                .is_some_and(|w| MOTION_WORDS.contains(&w)));
    let has_place_word = words
        .iter()
        .any(|t| PLACE_WORDS.contains(&t.text.to_lowercase().as_str()));
    let kind = if after_preposition || has_place_word {
        FactKind::Place
    } else {
        FactKind::Name
    };
    let fact = RawFact {
        kind,
        start,
        end,
        keys,
    };
    (Some(fact), used)
}

/// The end of a name's last word without a possessive `'s`.
fn strip_possessive_end(token: Token) -> usize {
    for suffix in ["'s", "’s", "'S", "’S"] {
        if token.text.len() > suffix.len() && token.text.ends_with(suffix) {
            return token.end - suffix.len();
        }
    }
    token.end
}

/// Number words and the digits they stand for (cardinal and ordinal).
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("first", "1"),
    ("two", "2"),
    ("second", "2"),
    ("three", "3"),
    ("third", "3"),
    ("four", "4"),
    ("fourth", "4"),
    ("five", "5"),
    ("fifth", "5"),
    ("six", "6"),
    ("sixth", "6"),
    ("seven", "7"),
    ("seventh", "7"),
    ("eight", "8"),
    ("eighth", "8"),
    ("nine", "9"),
    ("ninth", "9"),
    ("ten", "10"),
    ("tenth", "10"),
    ("eleven", "11"),
    ("eleventh", "11"),
    ("twelve", "12"),
    ("twelfth", "12"),
    ("thirteen", "13"),
    ("fourteen", "14"),
    ("fifteen", "15"),
    ("sixteen", "16"),
    ("seventeen", "17"),
    ("eighteen", "18"),
    ("nineteen", "19"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("sixty", "60"),
    ("seventy", "70"),
    ("eighty", "80"),
    ("ninety", "90"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("dozen", "12"),
];

/// The matching key of a word (see the module doc): both texts go through this.
fn normalise(word: &str) -> String {
    let mut lower = word.to_lowercase().replace('’', "'");
    for suffix in ["'s", "'ll", "'d", "'re", "'ve", "'m"] {
        if let Some(stripped) = lower.strip_suffix(suffix) {
            lower = stripped.to_string();
            break;
        }
    }
    let lower = lower
        .trim_start_matches(|c: char| c == '#' || CURRENCY_SIGNS.contains(&c))
        .trim_end_matches('%');
    if has_digit(lower) {
        return normalise_number(lower);
    }
    if let Some(&(_, digits)) = NUMBER_WORDS.iter().find(|(w, _)| *w == lower) {
        return digits.to_string();
    }
    if let Some(full) = month_abbreviation(lower) {
        return full.to_string();
    }
    depluralise(lower).to_string()
}

/// `1,200` → `1200`, `12:30` → `12.3`, `40.00` → `40`, `5th` → `5`, `3pm` → `3`,
/// `A-12` → `a12`.
fn normalise_number(lower: &str) -> String {
    // `78-year-old`, `3-day`: the number.
    if let Some((number, rest)) = lower.split_once('-') {
        let words = rest
            .split('-')
            .all(|w| w.chars().all(|c| c.is_alphabetic()));
        if number.bytes().all(|b| b.is_ascii_digit()) && words {
            return number.to_string();
        }
    }
    let mut text: String = lower
        .chars()
        .filter(|c| !matches!(c, ',' | '-' | '/'))
        .map(|c| if c == ':' { '.' } else { c })
        .collect();
    if let Some((digits, suffix)) = digits_and_suffix(&text) {
        if NUMBER_SUFFIXES.contains(&suffix) {
            text = digits.to_string();
        }
    }
    if text.contains('.') && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        text = trimmed.to_string();
    }
    text
}

/// Drops a plural `s` (`dollars` → `dollar`), keeping `ss` (`Ross`) and short words.
fn depluralise(lower: &str) -> &str {
    if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
        &lower[..lower.len() - 1]
    } else {
        lower
    }
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
