//! Atomic file writes: a checkpoint or export is either complete or absent, never
//! half-written, and never written over one of the command's own inputs or over something
//! that is not a regular file (a device node, a pipe, a folder).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{MixtuneError, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
///
/// - A symlink at `path` keeps pointing where it did: its target is what gets replaced.
/// - The file is created with the user's umask (0644 by default), as any other tool's
///   output; run folders and exported models are meant to be shared.
/// - Errors name `path`, the file the caller asked for, not the temporary one.
/// - Something at `path` (or at the end of its links) that is not a regular file is refused
///   ([`MixtuneError::NotARegularFile`]): renaming over it would replace a device node.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve_symlink(path);
    refuse_non_regular(path, &target)?;
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

/// Checks, before any work, that writing `output` loses nothing: it is not one of `inputs`
/// (by any path, symlink or hard link: the same device and inode) and, when it exists, it is
/// a regular file.
pub fn check_output(output: &Path, inputs: &[&Path]) -> Result<()> {
    // `metadata` follows links: what a link points to is what gets checked.
    refuse_non_regular(output, output)?;
    let Ok(written) = std::fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        if let Ok(read) = std::fs::metadata(input) {
            if same_file(&written, &read) {
                return Err(MixtuneError::OutputIsInput {
                    output: output.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

fn refuse_non_regular(path: &Path, target: &Path) -> Result<()> {
    match std::fs::metadata(target) {
        Ok(metadata) if !metadata.is_file() => Err(MixtuneError::NotARegularFile {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Without inode numbers in std's stable API elsewhere, the same size and modification time
/// stands in: a false "same file" only asks for another output name.
#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
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
    fn an_input_is_never_an_output_by_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("refs.csv");
        std::fs::write(&input, "id,summary\n1,a\n").unwrap();
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&input, &hard).unwrap();
        let soft = dir.path().join("soft.csv");
        std::os::unix::fs::symlink("refs.csv", &soft).unwrap();
        let dotted = dir.path().join(".").join("refs.csv");
        for output in [&input, &hard, &soft, &dotted] {
            let error = check_output(output, &[Path::new("x"), &input]).unwrap_err();
            assert!(
                matches!(&error, MixtuneError::OutputIsInput { input: i, .. } if i == &input),
                "{error}"
            );
        }
        let other = dir.path().join("out.csv");
        check_output(&other, &[&input]).unwrap();
        std::fs::write(&other, "old").unwrap();
        check_output(&other, &[&input]).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_behind_a_link_is_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        // A FIFO stands in for a device node (creating one needs root): neither is a
        // regular file, and replacing either loses what it was.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let link = dir.path().join("out.csv");
        std::os::unix::fs::symlink("pipe", &link).unwrap();
        for error in [
            check_output(&link, &[]).unwrap_err(),
            write_atomic(&link, b"x").unwrap_err(),
            write_atomic(&fifo, b"x").unwrap_err(),
            write_atomic(dir.path(), b"x").unwrap_err(),
        ] {
            assert!(
                matches!(error, MixtuneError::NotARegularFile { .. }),
                "{error}"
            );
        }
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
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
