//! The T5 SentencePiece tokenizer through the `tokenizers` crate, without the truncation
//! and padding that some `tokenizer.json` files carry.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

/// A tokenizer file that cannot be read, or text it cannot encode or decode.
#[derive(Debug, thiserror::Error)]
#[error("{path}: tokenizer: {message}")]
pub struct TokenizerError {
    pub path: PathBuf,
    pub message: String,
}

/// Result with [`TokenizerError`].
pub type Result<T, E = TokenizerError> = std::result::Result<T, E>;

/// A T5 tokenizer: text to ids with the closing `</s>`, ids back to text.
#[derive(Clone)]
pub struct T5Tokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for T5Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "T5Tokenizer({})", self.path.display())
    }
}

impl T5Tokenizer {
    /// Loads `tokenizer.json`, dropping any baked-in truncation or padding.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(TokenizerError {
                path: path.to_path_buf(),
                message: "file not found".into(),
            });
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| TokenizerError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        inner.with_truncation(None).map_err(|e| TokenizerError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        inner.with_padding(None);
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> TokenizerError {
        TokenizerError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Ids of `text` followed by `</s>`, as HF's `tokenizer(text)`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, true).map_err(|e| self.error(e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids of many texts, encoded in parallel.
    pub fn encode_batch(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| self.error(e))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// Text of `ids` with special tokens (pad, `</s>`, `<unk>`) left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| self.error(e))
    }

    /// Number of real tokens (32100 for T5; the embedding has more rows).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
/// T5's padding id.
pub const PAD_ID: u32 = 0;
/// T5's `</s>` id.
pub const EOS_ID: u32 = 1;

/// Truncates `ids` (ending with `</s>`) to `max` tokens keeping the final `</s>`, as HF's
/// `truncation=True, max_length=max`: the text ids are cut to `max - 1`, then `</s>` follows.
pub fn truncate(mut ids: Vec<u32>, max: usize) -> Vec<u32> {
    if ids.len() <= max {
        return ids;
    }
    if ids.last() == Some(&EOS_ID) {
        ids.pop();
    }
    ids.truncate(max.saturating_sub(1));
    ids.push(EOS_ID);
    ids
}
