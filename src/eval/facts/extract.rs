//! Facts of a summary: amounts, dates, ids, numbers, names and places, from its words.

use std::collections::HashSet;

use super::lexicon::{
    digits_and_suffix, has_digit, is_title, month_abbreviation, CONNECTORS, CURRENCY_SIGNS,
    CURRENCY_WORDS, ID_WORDS, MONTHS, MOTION_WORDS, NEVER_NAMES, NUMBER_SUFFIXES,
    PLACE_PREPOSITIONS, PLACE_WORDS, STOP_WORDS, WEEKDAYS,
};
use super::normalise::normalise;
use super::tokens::{is_apostrophe, Token};
use super::FactKind;

/// A fact before its text is cut out and checked.
pub(super) struct RawFact {
    pub(super) kind: FactKind,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) keys: Vec<String>,
}

pub(super) fn is_capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

pub(super) fn is_lowercase_word(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_lowercase) && !word.chars().any(char::is_uppercase)
}

/// The facts of a summary's tokens, in order.
pub(super) fn extract(
    text: &str,
    tokens: &[Token],
    lowercase_words: &HashSet<String>,
) -> Vec<RawFact> {
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
pub(super) fn joins_month(text: &str, number: &RawFact, date: &RawFact) -> bool {
    let between = text[number.end..date.start].trim();
    let value = number.keys.first().and_then(|k| k.parse::<u32>().ok());
    (between.is_empty() || between.eq_ignore_ascii_case("of"))
        && value.is_some_and(|v| (1..=31).contains(&v))
}

/// The lower-case word of `tokens[i]`, when spaced from the word before it.
pub(super) fn spaced_word(tokens: &[Token], i: usize) -> Option<String> {
    tokens
        .get(i)
        .filter(|t| t.spaced)
        .map(|t| t.text.to_lowercase())
}

/// A fact for the number-like word `tokens[i]` and how many words it takes.
pub(super) fn number_fact(tokens: &[Token], i: usize) -> (RawFact, usize) {
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
        if CURRENCY_WORDS.contains(unit.as_str()) {
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
            Some((_, suffix)) if NUMBER_SUFFIXES.contains(suffix.to_lowercase().as_str()) => {
                FactKind::Number
            }
            _ => FactKind::Id,
        };
        return (fact(kind, token.end), 1);
    }
    let previous = (i > 0 && token.spaced).then(|| tokens[i - 1].text.to_lowercase());
    if previous.is_some_and(|p| ID_WORDS.contains(p.as_str())) {
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
pub(super) fn is_iso_date(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The month a capitalised word names (`March`, `Dec`, `Sept`).
pub(super) fn month(word: &str) -> Option<&'static str> {
    if !is_capitalised(word) {
        return None;
    }
    let lower = word.to_lowercase();
    if let Some(full) = MONTHS.iter().find(|m| **m == lower) {
        return Some(full);
    }
    month_abbreviation(&lower)
}

/// The weekday a word names (`Monday`, `Fridays`).
pub(super) fn weekday(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    let lower = lower.strip_suffix('s').unwrap_or(&lower);
    WEEKDAYS.iter().find(|d| **d == lower).copied()
}

/// The weekday a capitalised abbreviation names (`Mon`, `Thurs`).
pub(super) fn weekday_abbreviation(word: &str) -> Option<&'static str> {
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
pub(super) fn month_date(tokens: &[Token], i: usize, after_day: bool) -> Option<(RawFact, usize)> {
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

/// Whether `word` (without an `'s`, `'ll`, … ending) is in [`STOP_WORDS`].
pub(super) fn is_stop_word(word: &str) -> bool {
    let lower = word.to_lowercase();
    let plain = lower.split(is_apostrophe).next().unwrap_or(&lower);
    STOP_WORDS.contains(plain)
}

/// A name (or place) starting at `tokens[i]`, if the words there make one, and the words
/// looked at (a rejected run of capitalised words is skipped whole).
pub(super) fn name_fact(
    tokens: &[Token],
    i: usize,
    lowercase_words: &HashSet<String>,
) -> (Option<RawFact>, usize) {
    let is_name_word = |t: &Token| {
        is_capitalised(t.text)
            && !has_digit(t.text)
            && !NEVER_NAMES.contains(t.text.to_lowercase().as_str())
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
        } else if CONNECTORS.contains(t.text)
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
        .filter(|t| !is_title(t.text) && !CONNECTORS.contains(t.text))
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
        .is_some_and(|b| PLACE_PREPOSITIONS.contains(b))
        || (before.as_deref() == Some("to")
            && before_to
                .as_deref()
                .is_some_and(|w| MOTION_WORDS.contains(w)));
    let has_place_word = words
        .iter()
        .any(|t| PLACE_WORDS.contains(t.text.to_lowercase().as_str()));
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
pub(super) fn strip_possessive_end(token: Token) -> usize {
    for suffix in ["'s", "’s", "'S", "’S"] {
        if token.text.len() > suffix.len() && token.text.ends_with(suffix) {
            return token.end - suffix.len();
        }
    }
    token.end
}
