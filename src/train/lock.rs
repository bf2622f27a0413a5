//! One run per folder: a lock file holding the process id, created atomically when a run
//! starts and removed when it ends. A second `train` or `--resume` on a live run is refused
//! naming the process; a lock left by a process that no longer runs (a crash, `kill -9`) is
//! detected, reported and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::run_dir::RunDir;
use crate::error::{MixtuneError, Result};

/// A held run-folder lock; dropping it removes the file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `output_dir`. Returns it with a note when it replaced a stale lock
    /// of a dead process; fails with [`MixtuneError::RunLocked`] when a live process holds it.
    pub fn acquire(output_dir: &Path) -> Result<(Self, Option<String>)> {
        let path = RunDir::new(&output_dir).lock();
        let mut note = None;
        // Twice at most: once more after clearing a stale lock.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    writeln!(file, "{}", std::process::id())
                        .and_then(|_| file.sync_all())
                        .map_err(|e| MixtuneError::io(&path, e))?;
                    return Ok((Self { path }, note));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if process_alive(pid) => {
                            return Err(MixtuneError::RunLocked {
                                dir: output_dir.to_path_buf(),
                                pid,
                            })
                        }
                        // A dead holder, or a lock being written this instant (no pid yet):
                        // only the former is stale; the latter shows a pid on the next try.
                        Some(pid) => {
                            note = Some(format!(
                                "{}: its last process ({pid}) stopped without finishing (a crash or a closed app)",
                                output_dir.display()
                            ));
                            std::fs::remove_file(&path).map_err(|e| MixtuneError::io(&path, e))?;
                        }
                        // No pid in a file older than a moment: not a lock being written
                        // but an empty or damaged one (a full disk, an editor), which
                        // would otherwise refuse every run as "process 0".
                        None if age(&path) > UNREADABLE_AFTER => {
                            note = Some(format!(
                                "{}: replaced a lock file that held no process id (empty or damaged)",
                                output_dir.display()
                            ));
                            std::fs::remove_file(&path).map_err(|e| MixtuneError::io(&path, e))?;
                        }
                        None => std::thread::sleep(std::time::Duration::from_millis(50)),
                    }
                }
                Err(e) => return Err(MixtuneError::io(&path, e)),
            }
        }
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(0);
        Err(MixtuneError::RunLocked {
            dir: output_dir.to_path_buf(),
            pid,
        })
    }
}

/// How old a lock file without a process id must be to count as damaged rather than being
/// written: a run writes its pid right after creating the file.
const UNREADABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// How long ago `path` was last written (zero when that cannot be told).
fn age(path: &Path) -> std::time::Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|written| written.elapsed().ok())
        .unwrap_or_default()
}

/// The live process holding `output_dir`'s lock, if any: a run in progress (in this process
/// or another). A lock left by a dead process, or none, gives `None`.
pub fn live_holder(output_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(RunDir::new(&output_dir).lock()).ok()?;
    let pid = text.trim().parse::<u32>().ok()?;
    process_alive(pid).then_some(pid)
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` runs: `/proc/<pid>` on Linux. Elsewhere a lock is always taken as
/// live (refusing is safer than two runs writing one folder).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = Path::new("/proc");
    if proc.is_dir() {
        proc.join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lock_is_refused_and_a_stale_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(live_holder(dir.path()), None);
        let (lock, note) = RunLock::acquire(dir.path()).unwrap();
        assert!(note.is_none());
        assert_eq!(live_holder(dir.path()), Some(std::process::id()));
        // This process holds it: a second run here is refused, naming the process.
        let error = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(error.contains(&std::process::id().to_string()), "{error}");
        assert!(error.contains(&dir.path().display().to_string()), "{error}");
        drop(lock);
        assert!(!RunDir::new(dir.path()).lock().exists());
        // A lock of a process that does not run (pid beyond Linux's pid_max).
        std::fs::write(RunDir::new(dir.path()).lock(), "4194305\n").unwrap();
        assert_eq!(live_holder(dir.path()), None);
        let (lock, note) = RunLock::acquire(dir.path()).unwrap();
        assert!(note.unwrap().contains("4194305"));
        drop(lock);
        // An empty or garbled lock file that is not being written is replaced, not taken
        // for a run of "process 0".
        for damaged in ["", "\u{0}\u{0}garbage"] {
            let path = RunDir::new(dir.path()).lock();
            std::fs::write(&path, damaged).unwrap();
            let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
            let (lock, note) = RunLock::acquire(dir.path()).unwrap();
            assert!(note.unwrap().contains("no process id"));
            drop(lock);
        }
    }
}
