//! The most device memory that live tensors held during some work: the figure PyTorch calls
//! `max_memory_allocated` (HF's reference reports it), which CubeCL does not keep. Its
//! memory usage is the bytes in use and reserved *now*; the pool's reserved bytes at the end
//! of a run, which `mixtune bench train` printed alone before, count pages kept for reuse
//! too, so they overstate a peak of live tensors.
//!
//! [`sample_peak`] arms this thread, runs the work and returns the largest usage seen at the
//! points that call [`sample`]: the trainer after its forward and backward passes, and the
//! backward steps of the layer norms and attentions (`kernels::extension`), so about every
//! layer of the backward pass, where activations are freed while gradients grow. Each sample
//! drains Burn's queued work first (a sync), so only an untimed step should be sampled; with
//! nothing armed a sample is one thread-local read.
//!
//! Sampled, it is a lower bound of the true peak, up to the tensors a drain itself makes live
//! (fusion runs the queue up to the sample, so a value that a fused kernel would have kept in
//! registers across that point is written out): in practice close, since a T5 step's peak is
//! its stored activations, which every sample after the forward pass sees.

use std::cell::Cell;

use burn::backend::MemoryPoolUsage;

thread_local! {
    /// The peak sampled so far on this thread, while [`sample_peak`] runs.
    static PEAK: Cell<Option<LivePeak>> = const { Cell::new(None) };
}

/// The largest device memory in use seen by the samples of one [`sample_peak`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePeak {
    /// Bytes held by live tensors (their padding included) at the largest sample.
    pub bytes: u64,
    /// How many samples were taken.
    pub samples: usize,
}

/// Runs `work` with this thread's samples on, and returns the largest memory in use they saw
/// (`None` where none was taken: on the CPU, which reports no device memory, or where the
/// work reached no sampling point).
pub fn sample_peak<T>(work: impl FnOnce() -> T) -> (T, Option<LivePeak>) {
    let outer = PEAK.with(|peak| {
        peak.replace(Some(LivePeak {
            bytes: 0,
            samples: 0,
        }))
    });
    let result = work();
    let peak = PEAK.with(|peak| peak.replace(outer));
    (result, peak.filter(|peak| peak.samples > 0))
}

/// Whether a [`sample_peak`] runs on this thread.
fn armed() -> bool {
    PEAK.with(|peak| peak.get().is_some())
}

/// Takes one sample from `usage` (the device's memory usage, e.g.
/// `Device::memory_pool_usage`, called only while armed).
pub fn sample(usage: impl FnOnce() -> Option<MemoryPoolUsage>) {
    if !armed() {
        return;
    }
    let Some(usage) = usage() else {
        return;
    };
    let live = usage.bytes_in_use + usage.bytes_padding;
    PEAK.with(|peak| {
        if let Some(current) = peak.get() {
            peak.set(Some(LivePeak {
                bytes: current.bytes.max(live),
                samples: current.samples + 1,
            }));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(in_use: u64) -> Option<MemoryPoolUsage> {
        Some(MemoryPoolUsage {
            number_allocs: 1,
            bytes_in_use: in_use,
            bytes_padding: 8,
            bytes_reserved: 4 * in_use,
        })
    }

    #[test]
    fn the_largest_sample_is_the_peak_and_nothing_is_read_unarmed() {
        sample(|| panic!("read while unarmed"));
        let ((), peak) = sample_peak(|| {
            sample(|| usage(100));
            sample(|| usage(300));
            sample(|| usage(200));
            sample(|| None);
        });
        assert_eq!(
            peak,
            Some(LivePeak {
                bytes: 308,
                samples: 3
            })
        );
        assert!(!armed());
        // No sample taken (the CPU reports no device memory): no figure.
        let ((), peak) = sample_peak(|| sample(|| None));
        assert_eq!(peak, None);
    }

    #[test]
    fn a_nested_peak_leaves_the_outer_one_counting() {
        let ((), outer) = sample_peak(|| {
            sample(|| usage(50));
            let ((), inner) = sample_peak(|| sample(|| usage(70)));
            assert_eq!(inner.map(|p| p.bytes), Some(78));
            sample(|| usage(60));
        });
        assert_eq!(outer.map(|p| (p.bytes, p.samples)), Some((68, 2)));
    }
}
