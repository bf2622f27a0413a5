//! Pause, resume and cancel a running training from another thread (the app's buttons,
//! a test), checked by the run loop between steps.

use std::sync::{Arc, Condvar, Mutex};

#[derive(Debug, Default)]
struct ControlState {
    paused: bool,
    cancelled: bool,
}

/// Pause, resume and cancel a running training from another thread.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    inner: Arc<(Mutex<ControlState>, Condvar)>,
}

impl RunControl {
    /// A control that lets the run go.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, f: impl FnOnce(&mut ControlState)) {
        let (lock, wake) = &*self.inner;
        if let Ok(mut state) = lock.lock() {
            f(&mut state);
        }
        wake.notify_all();
    }

    /// Pauses before the next step.
    pub fn pause(&self) {
        self.update(|s| s.paused = true);
    }

    /// Goes on after a pause.
    pub fn resume(&self) {
        self.update(|s| s.paused = false);
    }

    /// Stops before the next step (a paused run stops at once), writing a checkpoint.
    pub fn cancel(&self) {
        self.update(|s| s.cancelled = true);
    }

    /// Whether a cancel was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.lock().map(|s| s.cancelled).unwrap_or(true)
    }

    /// Blocks while paused; `on_change(true)` runs once when a pause starts and
    /// `on_change(false)` when it ends without a cancel. Returns whether the run was cancelled.
    pub(crate) fn wait_if_paused(&self, on_change: &mut dyn FnMut(bool)) -> bool {
        let (lock, wake) = &*self.inner;
        let Ok(mut state) = lock.lock() else {
            return true;
        };
        if state.paused && !state.cancelled {
            on_change(true);
            while state.paused && !state.cancelled {
                state = match wake.wait(state) {
                    Ok(state) => state,
                    Err(_) => return true,
                };
            }
            if !state.cancelled {
                on_change(false);
            }
        }
        state.cancelled
    }
}
