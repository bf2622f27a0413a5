//! A value made current on the calling thread for the length of a call, and restored when the
//! guard drops: how the layers below the model's forward entry points find its packed weights
//! (`cpu_gemm`, `packed_projections`) without a parameter through every layer.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::LocalKey;

/// A thread's current value (the type of a `thread_local!` slot).
pub type Slot<T> = RefCell<Option<Arc<T>>>;

/// Makes `value` current in `slot` on this thread until the guard drops (the previous one then
/// comes back, so nested entry points are fine).
pub fn enter<T: 'static>(slot: &'static LocalKey<Slot<T>>, value: Option<&Arc<T>>) -> Current<T> {
    let previous = slot.with(|current| current.replace(value.cloned()));
    Current { slot, previous }
}

/// Restores the previously current value when dropped ([`enter`]).
pub struct Current<T: 'static> {
    slot: &'static LocalKey<Slot<T>>,
    previous: Option<Arc<T>>,
}

impl<T: 'static> Drop for Current<T> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        self.slot.with(|current| *current.borrow_mut() = previous);
    }
}
