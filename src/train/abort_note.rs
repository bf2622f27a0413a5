//! A last word in a run's event log when the process aborts mid-run.
//!
//! A host allocation that fails ends a Rust process with `abort()`: the allocation-error
//! handler cannot be replaced on stable Rust, so there is no panic to catch and no `failed`
//! event, and the run would read "interrupted" with no reason given. While a run's log is
//! open, a SIGABRT handler appends one pre-formatted `failed` line to it with `write(2)` (one
//! of the few calls a signal handler may make), then lets the abort go on. Checkpoints need
//! nothing: they are written through a temporary file and a rename. Written by hand: no crate
//! offers a last write on abort (`ctrlc` and `signal-hook` serve catchable signals on a thread,
//! which an aborting process never reaches).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The runs that can be open at once in one process (the app runs several).
const SLOTS: usize = 8;

/// Each slot: a duplicated file descriptor of a run's `metrics.jsonl` (-1: free), and the
/// step of its latest event.
static FDS: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];
static STEPS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// What the line says; the step goes between the two halves.
const HEAD: &[u8] = b"\n{\"kind\":\"failed\",\"step\":";
const TAIL: &[u8] = b",\"message\":\"the process aborted, most likely because a host memory allocation failed (out of memory): lower batch_size or max_source_tokens / max_target_tokens; the checkpoints written before are intact, resume from the latest\"}\n";

/// A run's log armed for [`on_abort`]; disarmed when dropped (the run ended normally).
pub struct Armed {
    slot: usize,
}

impl Armed {
    /// Notes the step of the log's latest event, for the line written on abort.
    pub fn set_step(&self, step: usize) {
        STEPS[self.slot].store(step, Ordering::SeqCst);
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        let fd = FDS[self.slot].swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            #[cfg(unix)]
            // SAFETY: `fd` was duplicated by `arm` for this slot alone and is closed once.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

/// Arms `log` (a run's `metrics.jsonl`, open for writing at its end): an abort of the process
/// appends a `failed` event to it. `None` where that cannot be done (not Unix, no free slot,
/// no descriptor): the run goes on as before.
pub fn arm(log: &std::fs::File) -> Option<Armed> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        install_handler();
        // SAFETY: duplicating a descriptor the `File` keeps open.
        let fd = unsafe { libc::dup(log.as_raw_fd()) };
        if fd < 0 {
            return None;
        }
        for slot in 0..SLOTS {
            if FDS[slot]
                .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                STEPS[slot].store(0, Ordering::SeqCst);
                return Some(Armed { slot });
            }
        }
        // SAFETY: `fd` was just duplicated and is not shared.
        unsafe {
            libc::close(fd);
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = log;
        None
    }
}

#[cfg(unix)]
fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs a handler that only reads atomics and calls write(2), close(2),
        // signal(2) and raise(3), all async-signal-safe.
        unsafe {
            libc::signal(libc::SIGABRT, on_abort as *const () as libc::sighandler_t);
        }
    });
}

/// The SIGABRT handler: one `failed` line into every armed log, then the default action.
#[cfg(unix)]
extern "C" fn on_abort(_signal: libc::c_int) {
    for slot in 0..SLOTS {
        let fd = FDS[slot].swap(-1, Ordering::SeqCst);
        if fd < 0 {
            continue;
        }
        let mut line = [0u8; 512];
        let len = failed_line(STEPS[slot].load(Ordering::SeqCst), &mut line);
        // SAFETY: `line[..len]` is initialised; `fd` is this slot's own descriptor.
        unsafe {
            libc::write(fd, line.as_ptr().cast(), len);
            libc::close(fd);
        }
    }
    // SAFETY: back to the default action, then the abort proceeds as it would have.
    unsafe {
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        libc::raise(libc::SIGABRT);
    }
}

/// Formats the `failed` line of `step` into `out` without allocating; returns its length.
fn failed_line(step: usize, out: &mut [u8; 512]) -> usize {
    let mut digits = [0u8; 20];
    let mut n = step;
    let mut count = 0;
    loop {
        digits[count] = b'0' + (n % 10) as u8;
        count += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut len = 0;
    for &byte in HEAD
        .iter()
        .chain(digits[..count].iter().rev())
        .chain(TAIL.iter())
    {
        out[len] = byte;
        len += 1;
    }
    len
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::train::events::RunEvent;

    #[test]
    fn the_line_is_a_failed_event_at_the_step() {
        let mut out = [0u8; 512];
        for step in [0, 7, 1234567] {
            let len = failed_line(step, &mut out);
            let text = std::str::from_utf8(&out[..len]).unwrap();
            assert!(text.starts_with('\n') && text.ends_with('\n'));
            match serde_json::from_str::<RunEvent>(text.trim()).unwrap() {
                RunEvent::Failed { step: got, message } => {
                    assert_eq!(got, step);
                    assert!(message.contains("out of memory"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    /// The process really aborting: this test runs itself again as a child that arms a log,
    /// notes step 7 and aborts; the child dies of SIGABRT and its log ends with the event.
    #[test]
    fn an_abort_appends_the_failed_event_to_an_armed_log() {
        const CHILD: &str = "MIXTUNE_ABORT_NOTE_CHILD";
        if let Some(path) = std::env::var_os(CHILD) {
            let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            std::io::Write::write_all(&mut file, b"{\"kind\":\"note\"").unwrap(); // cut line
            let armed = arm(&file).unwrap();
            armed.set_step(7);
            std::process::abort();
        }
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("metrics.jsonl");
        std::fs::write(&log, "").unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "train::abort_note::tests::an_abort_appends_the_failed_event_to_an_armed_log",
                "--nocapture",
            ])
            .env(CHILD, &log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        let last = text.lines().rfind(|l| !l.is_empty()).unwrap();
        match serde_json::from_str::<RunEvent>(last).unwrap() {
            RunEvent::Failed { step, .. } => assert_eq!(step, 7),
            other => panic!("{other:?}"),
        }
    }
}
