//! Generation for one prompt with the decoded text reported as it grows (the desktop app's
//! Summarize page shows the summary token by token).

use super::{generate_streaming, GenerationConfig};
use crate::error::{MixtuneError, Result};
use crate::inference::Generated;
use crate::model::Pretrained;

/// Generates for `prompt`, calling `on_text` with the decoded text so far after every new
/// token (when the text changed). Returns what [`crate::inference::generate_text`] returns for
/// the same prompt and config.
pub fn stream_text(
    pretrained: &Pretrained,
    prompt: &str,
    config: &GenerationConfig,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generated> {
    if prompt.trim().is_empty() {
        return Err(MixtuneError::Input("a prompt is empty".into()));
    }
    let ids = pretrained.tokenizer.encode(prompt)?;
    let tokenizer = &pretrained.tokenizer;
    let mut so_far = vec![pretrained.defaults.decoder_start_token_id];
    let mut shown = String::new();
    let mut failure = None;
    let outputs = generate_streaming(
        &pretrained.model,
        &[ids],
        config,
        &pretrained.defaults,
        tokenizer.vocab_size(),
        &mut |_, token| {
            so_far.push(token);
            if failure.is_some() {
                return;
            }
            match tokenizer.decode(&so_far) {
                Ok(text) if text != shown => {
                    on_text(&text);
                    shown = text;
                }
                Ok(_) => {}
                Err(error) => failure = Some(error),
            }
        },
    )?;
    if let Some(error) = failure {
        return Err(error);
    }
    let token_ids = outputs
        .into_iter()
        .next()
        .ok_or_else(|| MixtuneError::Backend("generation returned no sequence".into()))?;
    Ok(Generated {
        text: tokenizer.decode(&token_ids)?,
        token_ids,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::device;
    use crate::inference::generate_text;
    use crate::model::load_pretrained;

    fn fixture() -> Option<Pretrained> {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/tiny-flan"
        ));
        if !dir.is_dir() {
            eprintln!("skipped: {} is missing", dir.display());
            return None;
        }
        Some(load_pretrained(dir.to_str()?, &device::cpu().device, false).unwrap())
    }

    fn check_same(pretrained: &Pretrained, config: &GenerationConfig) {
        let prompt = "summarize: Alice: are we meeting at noon?\nBob: yes, at the cafe.";
        let batch = generate_text(pretrained, &[prompt.to_string()], config).unwrap();
        let mut texts = Vec::new();
        let streamed = stream_text(pretrained, prompt, config, &mut |t| {
            texts.push(t.to_string())
        })
        .unwrap();
        assert_eq!(streamed.token_ids, batch[0].token_ids);
        assert_eq!(streamed.text, batch[0].text);
        if !streamed.text.is_empty() {
            assert_eq!(texts.last().unwrap(), &streamed.text);
        }
    }

    #[test]
    fn streaming_changes_no_result() {
        let Some(pretrained) = fixture() else { return };
        let greedy = GenerationConfig {
            max_new_tokens: 12,
            ..GenerationConfig::default()
        };
        check_same(&pretrained, &greedy);
        let sampled = GenerationConfig {
            do_sample: true,
            top_k: 20,
            top_p: 0.9,
            temperature: 0.8,
            seed: 7,
            ..greedy.clone()
        };
        check_same(&pretrained, &sampled);
        let beams = GenerationConfig {
            num_beams: 3,
            ..greedy
        };
        check_same(&pretrained, &beams);
    }

    #[test]
    fn every_token_is_reported_in_order() {
        let Some(pretrained) = fixture() else { return };
        let ids = pretrained.tokenizer.encode("translate: hello").unwrap();
        let config = GenerationConfig {
            max_new_tokens: 8,
            ..GenerationConfig::default()
        };
        let mut seen = Vec::new();
        let out = generate_streaming(
            &pretrained.model,
            &[ids.clone(), ids],
            &config,
            &pretrained.defaults,
            pretrained.tokenizer.vocab_size(),
            &mut |row, token| seen.push((row, token)),
        )
        .unwrap();
        for (row, sequence) in out.iter().enumerate() {
            let reported: Vec<u32> = seen
                .iter()
                .filter(|(r, _)| *r == row)
                .map(|&(_, t)| t)
                .collect();
            assert_eq!(reported, sequence[1..]);
        }
    }
}
