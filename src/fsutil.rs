//! Atomic file writes: a checkpoint or export is either complete or absent, never half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{MixtuneError, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
///
/// - A symlink at `path` keeps pointing where it did: its target is what gets replaced.
/// - The file is created with the user's umask (0644 by default), as any other tool's
///   output; run folders and exported models are meant to be shared.
/// - Errors name `path`, the file the caller asked for, not the temporary one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve_symlink(path);
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let failed = |e: std::io::Error| MixtuneError::io(path, without_temp_path(e));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Asked for 0666; the kernel applies the umask, as for a plain `File::create`.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(failed)?;
    tmp.write_all(bytes).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(&target).map_err(|e| failed(e.error))?;
    Ok(())
}

/// The error without the temporary file's path that `tempfile` appends to its messages
/// (`... at path "/dir/.tmp-x1y2"`): the caller names the target instead.
fn without_temp_path(error: std::io::Error) -> std::io::Error {
    let text = error.to_string();
    match text.rfind(" at path \"") {
        Some(cut) => std::io::Error::new(error.kind(), text[..cut].to_string()),
        None => error,
    }
}

/// The file a symlink at `path` points to (followed to the end), else `path` itself.
fn resolve_symlink(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    // A bounded walk: a cycle of links ends as the path it started from.
    for _ in 0..32 {
        match std::fs::read_link(&current) {
            Ok(link) => {
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Err(_) => return current,
        }
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_replaced_whole_and_errors_name_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/folder/out.txt");
        let error = write_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(error.starts_with(&missing.display().to_string()), "{error}");
        assert!(!error.contains(".tmp-"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_kept_and_its_target_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("predictions.csv");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("latest.csv");
        std::os::unix::fs::symlink("predictions.csv", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn files_follow_the_umask_not_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        write_atomic(&path, b"{}").unwrap();
        let plain = dir.path().join("plain.json");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // The same mode as any file this user creates (0644 under the usual umask).
        assert_eq!(mode(&path), mode(&plain), "{:o}", mode(&path));
    }
}
