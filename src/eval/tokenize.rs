//! The tokenizer of Google's `rouge-score` (`rouge_score/tokenize.py`):
//! lowercase, every character outside `[a-z0-9]` separates tokens, and with
//! stemming on, tokens longer than three characters go through NLTK's Porter
//! stemmer.

use super::porter;

/// Splits `text` into ROUGE tokens exactly as `rouge_score.tokenize.tokenize`.
///
/// Lowercasing follows Python's `str.lower()`, so the two non-ASCII characters
/// that lowercase to ASCII letters (U+0130 'İ' and U+212A KELVIN SIGN) yield
/// tokens; every other non-ASCII character only separates tokens.
pub fn tokenize(text: &str, stem: bool) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if ch.is_ascii() {
            push_char(ch.to_ascii_lowercase(), &mut current, &mut tokens, stem);
        } else {
            for lower in ch.to_lowercase() {
                push_char(lower, &mut current, &mut tokens, stem);
            }
        }
    }
    finish_token(&mut current, &mut tokens, stem);
    tokens
}

fn push_char(ch: char, current: &mut String, tokens: &mut Vec<String>, stem: bool) {
    if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
        current.push(ch);
    } else {
        finish_token(current, tokens, stem);
    }
}

/// Ends the token being built: stems it when asked and keeps it if it is
/// still a valid `[a-z0-9]+` token (rouge-score's final check).
fn finish_token(current: &mut String, tokens: &mut Vec<String>, stem: bool) {
    if current.is_empty() {
        return;
    }
    let token = std::mem::take(current);
    let token = if stem && token.len() > 3 {
        porter::stem(&token)
    } else {
        token
    };
    let valid = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        tokens.push(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_splits_on_non_alphanumerics() {
        assert_eq!(
            tokenize("The Cat's 3.14-inch mat!", false),
            ["the", "cat", "s", "3", "14", "inch", "mat"]
        );
    }

    #[test]
    fn non_ascii_separates_except_python_lowercase_to_ascii() {
        assert_eq!(tokenize("café naïve", false), ["caf", "na", "ve"]);
        assert_eq!(
            tokenize("\u{212A}m İstanbul", false),
            ["km", "i", "stanbul"]
        );
        assert!(tokenize("日本語 😀 —", false).is_empty());
    }

    #[test]
    fn stems_only_tokens_longer_than_three() {
        assert_eq!(
            tokenize("Running runs ran dies flies", true),
            ["run", "run", "ran", "die", "fli"]
        );
        // "ties" (4 chars) is stemmed, "tie" (3 chars) is not.
        assert_eq!(tokenize("ties tie", true), ["tie", "tie"]);
        assert_eq!(tokenize("Running", false), ["running"]);
    }

    #[test]
    fn empty_and_separator_only_text_has_no_tokens() {
        assert!(tokenize("", true).is_empty());
        assert!(tokenize(" \n\t.,;!? ", true).is_empty());
    }

    /// Only U+0130 and U+212A lowercase to ASCII alphanumerics in Python 3.11;
    /// if Rust's Unicode tables ever add another, parity would silently break.
    #[test]
    fn only_two_non_ascii_chars_lowercase_to_ascii() {
        let found: Vec<u32> = (0x80..=0x10FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| c.to_lowercase().any(|l| l.is_ascii_alphanumeric()))
            .map(u32::from)
            .collect();
        assert_eq!(found, [0x130, 0x212A]);
    }
}
