//! The form words are matched in: lower case, signs and thousands commas dropped, number
//! words as digits, month abbreviations spelt out, plural and possessive `s` dropped.

use super::lexicon::{
    self, digits_and_suffix, has_digit, month_abbreviation, CURRENCY_SIGNS, NUMBER_SUFFIXES,
};

/// The matching key of a word (see the module doc): both texts go through this.
pub(super) fn normalise(word: &str) -> String {
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
    if let Some(digits) = lexicon::number_word(lower) {
        return digits.to_string();
    }
    if let Some(full) = month_abbreviation(lower) {
        return full.to_string();
    }
    depluralise(lower).to_string()
}

/// `1,200` → `1200`, `12:30` → `12.3`, `40.00` → `40`, `5th` → `5`, `3pm` → `3`,
/// `A-12` → `a12`.
pub(super) fn normalise_number(lower: &str) -> String {
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
        if NUMBER_SUFFIXES.contains(suffix) {
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
pub(super) fn depluralise(lower: &str) -> &str {
    if lower.len() > 3 && lower.ends_with('s') && !lower.ends_with("ss") {
        &lower[..lower.len() - 1]
    } else {
        lower
    }
}
