//! Chat normalisation: `Name: text` lines, timestamped lines (`[10:32] Agent: ...`),
//! DialogSum `#Person1#:` turns or JSON message lists become one canonical dialogue text,
//! one `Speaker: text` turn per line.

use std::collections::HashMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest speaker name accepted before `:` on a line.
const MAX_SPEAKER_CHARS: usize = 40;
/// Most words a speaker name may have (`Customer Service Agent`).
const MAX_SPEAKER_WORDS: usize = 4;
/// Keys naming the speaker of a JSON message, first match wins.
const SPEAKER_KEYS: [&str; 6] = ["role", "author", "speaker", "name", "from", "user"];
/// Keys holding the text of a JSON message, first match wins.
const TEXT_KEYS: [&str; 5] = ["content", "text", "message", "value", "utterance"];

/// How speakers appear in the canonical dialogue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum SpeakerStyle {
    /// Speaker names as written (`Alice: hi`).
    #[default]
    Keep,
    /// DialogSum tags by first appearance: first speaker `#Person1#`, second `#Person2#`, ...
    PersonTags,
}

impl FromStr for SpeakerStyle {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "keep" => Ok(SpeakerStyle::Keep),
            "person-tags" | "person_tags" | "tags" => Ok(SpeakerStyle::PersonTags),
            other => Err(format!(
                "unknown speaker style `{other}` (expected keep or person-tags)"
            )),
        }
    }
}

/// One turn of a dialogue; `speaker` is `None` for text before any speaker appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Who speaks, as written in the source.
    pub speaker: Option<String>,
    /// What they say, on one line.
    pub text: String,
}

/// Normalises a dialogue field given as JSON: a string (lines, or a JSON message list in
/// text) or an array of message objects.
pub fn normalize_value(value: &Value, style: SpeakerStyle) -> Result<String, String> {
    match value {
        Value::Array(messages) => Ok(render(&parse_messages(messages)?, style)),
        Value::String(text) => normalize_text(text, style),
        Value::Null => Ok(String::new()),
        other => Ok(other.to_string()),
    }
}

/// Normalises dialogue text; text that is a JSON message list is parsed as one.
pub fn normalize_text(text: &str, style: SpeakerStyle) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') && trimmed.ends_with(']') {
        if let Ok(Value::Array(messages)) = serde_json::from_str::<Value>(trimmed) {
            if messages.iter().all(Value::is_object) && !messages.is_empty() {
                return Ok(render(&parse_messages(&messages)?, style));
            }
        }
    }
    let turns = parse_lines(text);
    if turns.iter().all(|turn| turn.speaker.is_none()) {
        return Ok(trimmed.to_string());
    }
    Ok(render(&turns, style))
}

/// Splits chat lines into turns; lines without a speaker join the previous turn.
pub fn parse_lines(text: &str) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for line in text.lines() {
        let line = strip_timestamp(line.trim());
        if line.is_empty() {
            continue;
        }
        match split_speaker(line) {
            Some((speaker, said)) => turns.push(Turn {
                speaker: Some(speaker.to_string()),
                text: said.to_string(),
            }),
            None => match turns.last_mut() {
                Some(previous) if !previous.text.is_empty() => {
                    previous.text.push(' ');
                    previous.text.push_str(line);
                }
                Some(previous) => previous.text.push_str(line),
                None => turns.push(Turn {
                    speaker: None,
                    text: line.to_string(),
                }),
            },
        }
    }
    turns
}

/// Reads `[{"role"|"author": ..., "content"|"text": ...}, ...]` messages.
pub fn parse_messages(messages: &[Value]) -> Result<Vec<Turn>, String> {
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let Value::Object(message) = message else {
                return Err(format!("message {} is not an object", index + 1));
            };
            let speaker = SPEAKER_KEYS
                .iter()
                .find_map(|key| message.get(*key).and_then(Value::as_str))
                .map(|speaker| speaker.trim().to_string());
            let text = TEXT_KEYS
                .iter()
                .find_map(|key| message.get(*key))
                .ok_or_else(|| {
                    format!(
                        "message {} has no text (expected one of: {})",
                        index + 1,
                        TEXT_KEYS.join(", ")
                    )
                })?;
            Ok(Turn {
                speaker,
                text: one_line(&content_text(text)),
            })
        })
        .collect()
}

/// Writes turns as `Speaker: text` lines in the chosen style.
pub fn render(turns: &[Turn], style: SpeakerStyle) -> String {
    let mut tags: HashMap<&str, String> = HashMap::new();
    let mut lines = Vec::with_capacity(turns.len());
    for turn in turns {
        let Some(speaker) = turn.speaker.as_deref() else {
            lines.push(turn.text.clone());
            continue;
        };
        let speaker = match style {
            SpeakerStyle::Keep => speaker.to_string(),
            SpeakerStyle::PersonTags => {
                let next = tags.len() + 1;
                tags.entry(speaker)
                    .or_insert_with(|| format!("#Person{next}#"))
                    .clone()
            }
        };
        lines.push(format!("{speaker}: {}", turn.text));
    }
    lines.join("\n")
}

/// Text of a message's content: a string, or the `text` parts of a content list.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(text) => Some(text.clone()),
                Value::Object(part) => part.get("text").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Joins the lines of a message into one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits `Name: text` into its speaker and text, if the part before `:` looks like a name.
fn split_speaker(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let name = line[..colon].trim();
    let rest = &line[colon + 1..];
    if name.is_empty()
        || name.chars().count() > MAX_SPEAKER_CHARS
        || name.split_whitespace().count() > MAX_SPEAKER_WORDS
        || rest.starts_with("//")
        || name.chars().all(|c| c.is_ascii_digit())
        || name.contains(['"', '(', ')', '[', ']', '{', '}', ',', '.', '?', '!'])
    {
        return None;
    }
    let first = name.chars().next()?;
    if !(first.is_alphanumeric() || matches!(first, '#' | '@' | '_')) {
        return None;
    }
    Some((name, rest.trim()))
}

/// Removes a leading timestamp such as `[10:32]`, `(10:32:05 PM)`, `10:32 -` or
/// `[05/01/2024, 10:32]` from a line.
fn strip_timestamp(line: &str) -> &str {
    let rest = if let Some(open) = line.chars().next().filter(|c| matches!(c, '[' | '(')) {
        let close = if open == '[' { ']' } else { ')' };
        match line.find(close) {
            Some(end) if looks_like_datetime(&line[1..end]) => &line[end + 1..],
            _ => return line,
        }
    } else {
        let end = line
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, ':' | '/' | '.' | '-' | ',' | ' ')))
            .unwrap_or(line.len());
        let mut end = end;
        let after = &line[end..];
        for meridiem in ["AM", "PM", "am", "pm"] {
            if after.starts_with(meridiem) {
                end += meridiem.len();
                break;
            }
        }
        let candidate = line[..end].trim_end_matches([' ', '-', ',']);
        if !looks_like_datetime(candidate) {
            return line;
        }
        &line[end..]
    };
    rest.trim_start()
        .trim_start_matches(['-', '|'])
        .trim_start()
}

/// True for text like `10:32`, `10:32:05 PM`, `2024-01-05 10:32` or `05/01/2024, 10:32`.
fn looks_like_datetime(text: &str) -> bool {
    let text = text.trim();
    let allowed = text.chars().all(|c| {
        c.is_ascii_digit()
            || matches!(
                c,
                ':' | '/' | '.' | '-' | ',' | ' ' | 'T' | 'A' | 'P' | 'M' | 'a' | 'p' | 'm'
            )
    });
    let bytes = text.as_bytes();
    let has_clock = bytes.windows(4).any(|window| {
        window[0].is_ascii_digit()
            && window[1] == b':'
            && window[2].is_ascii_digit()
            && window[3].is_ascii_digit()
    });
    allowed && has_clock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_name_lines_with_continuations() {
        let text = "Alice: Hi there\nhow are you?\nBob: Fine.\n\nBob: Thanks";
        assert_eq!(
            normalize_text(text, SpeakerStyle::Keep).unwrap(),
            "Alice: Hi there how are you?\nBob: Fine.\nBob: Thanks"
        );
        assert_eq!(
            normalize_text(text, SpeakerStyle::PersonTags).unwrap(),
            "#Person1#: Hi there how are you?\n#Person2#: Fine.\n#Person2#: Thanks"
        );
    }

    #[test]
    fn timestamps_are_removed() {
        let text = "[10:32] Agent: Hello\n[10:33:05 PM] Customer Name: My card\n10:34 - Agent: OK\n[05/01/2024, 10:35] Agent: Bye";
        assert_eq!(
            normalize_text(text, SpeakerStyle::Keep).unwrap(),
            "Agent: Hello\nCustomer Name: My card\nAgent: OK\nAgent: Bye"
        );
    }

    #[test]
    fn dialogsum_turns_are_kept_or_retagged() {
        let text = "#Person1#: Hello.\n#Person2#: Hi.";
        assert_eq!(normalize_text(text, SpeakerStyle::Keep).unwrap(), text);
        assert_eq!(
            normalize_text(text, SpeakerStyle::PersonTags).unwrap(),
            text
        );
    }

    #[test]
    fn json_messages_in_value_or_text() {
        let messages = serde_json::json!([
            {"role": "user", "content": "My order\nis late"},
            {"author": "agent", "text": "Sorry!"},
            {"from": "user", "value": [{"type": "text", "text": "Thanks"}]}
        ]);
        assert_eq!(
            normalize_value(&messages, SpeakerStyle::Keep).unwrap(),
            "user: My order is late\nagent: Sorry!\nuser: Thanks"
        );
        assert_eq!(
            normalize_text(&messages.to_string(), SpeakerStyle::PersonTags).unwrap(),
            "#Person1#: My order is late\n#Person2#: Sorry!\n#Person1#: Thanks"
        );
        let bad = serde_json::json!([{"role": "user"}]);
        assert!(normalize_value(&bad, SpeakerStyle::Keep)
            .unwrap_err()
            .contains("message 1"));
    }

    #[test]
    fn prose_and_urls_are_not_speakers() {
        assert_eq!(
            normalize_text("See https://x.y for details. Really.", SpeakerStyle::Keep).unwrap(),
            "See https://x.y for details. Really."
        );
        assert_eq!(split_speaker("Well, that is it: done"), None);
        assert_eq!(
            split_speaker("A very long sentence here that is: prose"),
            None
        );
    }
}
