//! Words of a text for the facts check: numbers with their separators, words with
//! hyphens and apostrophes, `#`/currency prefixes and `%`; speaker tags skipped.

use super::lexicon::{is_title, CURRENCY_SIGNS};

/// A word of a text with its byte span.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) text: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
    /// The first word of the text or of a sentence.
    pub(super) sentence_start: bool,
    /// Only spaces separate it from the word before.
    pub(super) spaced: bool,
}

pub(super) fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Splits `text` into words (see the module doc), skipping speaker tags like `#Person1#`.
pub(super) fn tokenize(text: &str) -> Vec<Token<'_>> {
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
pub(super) fn speaker_tag_end(chars: &[(usize, char)], i: usize) -> Option<usize> {
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
