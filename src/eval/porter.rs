//! Porter stemmer, ported rule for rule from NLTK's `nltk/stem/porter.py`
//! (NLTK 3.10, default mode `NLTK_EXTENSIONS`), which is the stemmer that
//! Google's `rouge-score` uses when `use_stemmer=True`.
//!
//! Words are handled as sequences of Unicode scalar values, like Python
//! strings, so lengths and suffix tests agree with NLTK for any input; in ROUGE
//! the input is always an ASCII `[a-z0-9]+` token.

const VOWELS: [char; 5] = ['a', 'e', 'i', 'o', 'u'];

type Word = Vec<char>;

/// Condition on the stem left after a suffix is removed.
type Condition<'a> = Option<&'a dyn Fn(&[char]) -> bool>;

/// What a rule matches at the end of a word.
#[derive(Clone, Copy)]
enum Suffix<'a> {
    /// A literal suffix (possibly empty, which always matches).
    Text(&'a str),
    /// NLTK's `"*d"`: the word ends with a double consonant.
    DoubleConsonant,
}

/// One suffix-rewriting rule of NLTK's `_apply_rule_list`.
struct Rule<'a> {
    suffix: Suffix<'a>,
    replacement: &'a str,
    condition: Condition<'a>,
}

fn rule<'a>(suffix: &'a str, replacement: &'a str, condition: Condition<'a>) -> Rule<'a> {
    Rule {
        suffix: Suffix::Text(suffix),
        replacement,
        condition,
    }
}

/// Stems one word exactly as NLTK's `PorterStemmer().stem(word)` does
/// (lowercasing first, irregular forms, words of one or two characters kept).
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if let Some(irregular) = irregular_form(&lower) {
        return irregular.to_string();
    }
    // NLTK measures the original word here, not the lowercased one.
    if word.chars().count() <= 2 {
        return lower;
    }
    let mut w: Word = lower.chars().collect();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    w.into_iter().collect()
}

/// NLTK's `pool` of irregular forms, consulted before any rule.
fn irregular_form(word: &str) -> Option<&'static str> {
    Some(match word {
        "sky" | "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "news" => "news",
        "innings" | "inning" => "inning",
        "outings" | "outing" => "outing",
        "cannings" | "canning" => "canning",
        "howe" => "howe",
        "proceed" => "proceed",
        "exceed" => "exceed",
        "succeed" => "succeed",
        _ => return None,
    })
}

fn is_vowel(c: char) -> bool {
    VOWELS.contains(&c)
}

/// `_is_consonant`: a 'y' is a consonant unless it follows a consonant.
fn is_consonant(w: &[char], i: usize) -> bool {
    if is_vowel(w[i]) {
        return false;
    }
    if w[i] == 'y' {
        let mut negate = false;
        let mut j = i;
        while j > 0 && w[j] == 'y' {
            negate = !negate;
            j -= 1;
        }
        // NLTK: `(word[i] not in self.vowels) != negate`.
        return is_vowel(w[j]) == negate;
    }
    true
}

/// `_consonant_flags`: `is_consonant` for every position in one pass.
fn consonant_flags(w: &[char]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(w.len());
    for (i, &c) in w.iter().enumerate() {
        let flag = if is_vowel(c) {
            false
        } else if c == 'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(flag);
    }
    flags
}

/// Porter's measure m: the number of vowel-run/consonant-run ("VC") pairs.
fn measure(stem: &[char]) -> usize {
    consonant_flags(stem)
        .windows(2)
        .filter(|pair| !pair[0] && pair[1])
        .count()
}

fn positive_measure(stem: &[char]) -> bool {
    measure(stem) > 0
}

fn measure_gt_1(stem: &[char]) -> bool {
    measure(stem) > 1
}

/// `*v*`: the stem contains a vowel.
fn contains_vowel(stem: &[char]) -> bool {
    !consonant_flags(stem).iter().all(|&consonant| consonant)
}

/// `*d`: the word ends with a double consonant.
fn ends_double_consonant(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// `*o`: consonant-vowel-consonant ending whose last letter is not w, x or y,
/// plus NLTK's extension for two-letter vowel-consonant words.
fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    (n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], 'w' | 'x' | 'y'))
        || (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1))
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let n = suffix.chars().count();
    n <= w.len() && w[w.len() - n..].iter().copied().eq(suffix.chars())
}

/// `word` without its last `n` characters.
fn strip(w: &[char], n: usize) -> &[char] {
    &w[..w.len() - n]
}

fn join(stem: &[char], replacement: &str) -> Word {
    let mut out: Word = stem.to_vec();
    out.extend(replacement.chars());
    out
}

/// `_apply_rule_list`: the first rule whose suffix matches decides; if its
/// condition fails the word is returned unchanged.
fn apply_rules(w: Word, rules: &[Rule<'_>]) -> Word {
    for r in rules {
        let removed = match r.suffix {
            Suffix::DoubleConsonant if ends_double_consonant(&w) => 2,
            Suffix::DoubleConsonant => continue,
            Suffix::Text(s) if ends_with(&w, s) => s.chars().count(),
            Suffix::Text(_) => continue,
        };
        let stem = strip(&w, removed);
        return match r.condition {
            Some(condition) if !condition(stem) => w,
            _ => join(stem, r.replacement),
        };
    }
    w
}

fn step1a(w: Word) -> Word {
    // NLTK extension: 'flies' -> 'fli' but 'dies' -> 'die'.
    if ends_with(&w, "ies") && w.len() == 4 {
        return join(strip(&w, 3), "ie");
    }
    apply_rules(
        w,
        &[
            rule("sses", "ss", None),
            rule("ies", "i", None),
            rule("ss", "ss", None),
            rule("s", "", None),
        ],
    )
}

fn step1b(w: Word) -> Word {
    // NLTK extension: 'spied' -> 'spi' but 'died' -> 'die'.
    if ends_with(&w, "ied") {
        let replacement = if w.len() == 4 { "ie" } else { "i" };
        return join(strip(&w, 3), replacement);
    }
    if ends_with(&w, "eed") {
        let stem = strip(&w, 3);
        return if measure(stem) > 0 {
            join(stem, "ee")
        } else {
            w
        };
    }
    let mut intermediate: Option<Word> = None;
    for suffix in ["ed", "ing"] {
        if ends_with(&w, suffix) {
            let stem = strip(&w, suffix.len());
            if contains_vowel(stem) {
                intermediate = Some(stem.to_vec());
                break;
            }
        }
    }
    let Some(stem) = intermediate else {
        return w;
    };
    // A stem with a vowel is never empty.
    let Some(&last) = stem.last() else {
        return stem;
    };
    let last_letter = last.to_string();
    let single_letter = |_: &[char]| !matches!(last, 'l' | 's' | 'z');
    let add_e = |s: &[char]| measure(s) == 1 && ends_cvc(s);
    apply_rules(
        stem,
        &[
            rule("at", "ate", None),
            rule("bl", "ble", None),
            rule("iz", "ize", None),
            Rule {
                suffix: Suffix::DoubleConsonant,
                replacement: &last_letter,
                condition: Some(&single_letter),
            },
            rule("", "e", Some(&add_e)),
        ],
    )
}

fn step1c(w: Word) -> Word {
    // NLTK extension: y -> i only after a consonant that is not the whole stem.
    let condition = |s: &[char]| s.len() > 1 && is_consonant(s, s.len() - 1);
    apply_rules(w, &[rule("y", "i", Some(&condition))])
}

fn step2(w: Word) -> Word {
    // NLTK extension: apply ALLI -> AL first and run step 2 again.
    if ends_with(&w, "alli") && positive_measure(strip(&w, 4)) {
        return step2(join(strip(&w, 4), "al"));
    }
    let m = Some(&positive_measure as &dyn Fn(&[char]) -> bool);
    // The 'l' of 'logi' stays with the stem so that 'geo', 'theo' qualify.
    let logi_applies = w.len() >= 3 && positive_measure(strip(&w, 3));
    let logi = move |_: &[char]| logi_applies;
    apply_rules(
        w,
        &[
            rule("ational", "ate", m),
            rule("tional", "tion", m),
            rule("enci", "ence", m),
            rule("anci", "ance", m),
            rule("izer", "ize", m),
            rule("bli", "ble", m),
            rule("alli", "al", m),
            rule("entli", "ent", m),
            rule("eli", "e", m),
            rule("ousli", "ous", m),
            rule("ization", "ize", m),
            rule("ation", "ate", m),
            rule("ator", "ate", m),
            rule("alism", "al", m),
            rule("iveness", "ive", m),
            rule("fulness", "ful", m),
            rule("ousness", "ous", m),
            rule("aliti", "al", m),
            rule("iviti", "ive", m),
            rule("biliti", "ble", m),
            rule("fulli", "ful", m),
            rule("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: Word) -> Word {
    let m = Some(&positive_measure as &dyn Fn(&[char]) -> bool);
    apply_rules(
        w,
        &[
            rule("icate", "ic", m),
            rule("ative", "", m),
            rule("alize", "al", m),
            rule("iciti", "ic", m),
            rule("ical", "ic", m),
            rule("ful", "", m),
            rule("ness", "", m),
        ],
    )
}

fn step4(w: Word) -> Word {
    let m = Some(&measure_gt_1 as &dyn Fn(&[char]) -> bool);
    let ion = |s: &[char]| measure(s) > 1 && matches!(s.last(), Some('s' | 't'));
    apply_rules(
        w,
        &[
            rule("al", "", m),
            rule("ance", "", m),
            rule("ence", "", m),
            rule("er", "", m),
            rule("ic", "", m),
            rule("able", "", m),
            rule("ible", "", m),
            rule("ant", "", m),
            rule("ement", "", m),
            rule("ment", "", m),
            rule("ent", "", m),
            rule("ion", "", Some(&ion)),
            rule("ou", "", m),
            rule("ism", "", m),
            rule("ate", "", m),
            rule("iti", "", m),
            rule("ous", "", m),
            rule("ive", "", m),
            rule("ize", "", m),
        ],
    )
}

fn step5a(w: Word) -> Word {
    // Both conditions are tried, so this cannot use `apply_rules`.
    if ends_with(&w, "e") {
        let stem = strip(&w, 1);
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w
}

fn step5b(w: Word) -> Word {
    // The measure is taken of the word less one 'l'.
    let controls = !w.is_empty() && measure_gt_1(strip(&w, 1));
    let condition = move |_: &[char]| controls;
    apply_rules(w, &[rule("ll", "l", Some(&condition))])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `word<TAB>stem` lines produced by NLTK 3.10.4's `PorterStemmer().stem`.
    const NLTK_STEMS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/porter_nltk.tsv"
    ));

    #[test]
    fn matches_nltk_on_vocabulary() {
        let mut checked = 0;
        let mut wrong = Vec::new();
        for line in NLTK_STEMS.lines().filter(|l| !l.is_empty()) {
            let (word, expected) = line.split_once('\t').expect("word<TAB>stem");
            let got = stem(word);
            if got != expected {
                wrong.push(format!("{word}: got {got}, NLTK {expected}"));
            }
            checked += 1;
        }
        assert!(checked >= 300, "only {checked} words in the vocabulary");
        assert!(
            wrong.is_empty(),
            "{} mismatches:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn paper_and_nltk_examples() {
        for (word, expected) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("hopping", "hop"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("generously", "gener"),
            ("happiness", "happi"),
            ("dying", "die"),
            ("skies", "sky"),
            ("Running", "run"),
        ] {
            assert_eq!(stem(word), expected, "stem({word})");
        }
    }

    #[test]
    fn short_and_odd_words() {
        assert_eq!(stem("is"), "is");
        assert_eq!(stem("a"), "a");
        assert_eq!(stem(""), "");
        assert_eq!(stem("yyyy"), "yyyi");
    }

    #[test]
    fn consonant_flags_agree_with_is_consonant() {
        for word in ["syzygy", "toy", "yyyy", "ayyy", "yay", "happy", "rhythm"] {
            let w: Word = word.chars().collect();
            let flags = consonant_flags(&w);
            for (i, flag) in flags.iter().enumerate() {
                assert_eq!(*flag, is_consonant(&w, i), "{word}[{i}]");
            }
        }
    }

    #[test]
    fn measure_examples_from_the_paper() {
        for (word, m) in [
            ("tr", 0),
            ("ee", 0),
            ("tree", 0),
            ("y", 0),
            ("by", 0),
            ("trouble", 1),
            ("oats", 1),
            ("trees", 1),
            ("ivy", 1),
            ("troubles", 2),
            ("private", 2),
            ("oaten", 2),
            ("orrery", 2),
        ] {
            let w: Word = word.chars().collect();
            assert_eq!(measure(&w), m, "m({word})");
        }
    }
}
