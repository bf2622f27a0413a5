//! Atomic file writes: a checkpoint or export is either complete or absent, never half-written.

use std::io::Write;
use std::path::Path;

use crate::error::{MixtuneError, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| MixtuneError::io(dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| MixtuneError::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| MixtuneError::io(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| MixtuneError::io(path, e.error))?;
    Ok(())
}
