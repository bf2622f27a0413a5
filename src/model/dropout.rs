//! HF's `nn.Dropout` as T5 uses it in training (`dropout_rate`): each element zeroed with
//! probability `rate`, the others scaled by `1 / (1 - rate)`. The draws come from the
//! device's generator, or on a GPU from a hash of seeds (below); the run loop restarts both
//! at every step, so a resumed run draws what an uninterrupted one would.
//!
//! T5's sites outside attention (embeddings, sub-layer outputs, feed-forward activations,
//! final norms, [`dropout_site`] and [`dropout_add`]) go one of two ways:
//! - on a wgpu device compiling WGSL, `kernels::dropout`: each element's draw is a hash of a
//!   seed and its index, recomputed by the backward pass, so no mask is stored (Burn's
//!   Bernoulli masks are f32, kept for the backward pass: ~0.95 GB for base at batch 8,
//!   512/128), and a sub-layer's output joins the residual in the same launch. The seeds
//!   come from the sequence the trainer restarts at every step (`kernels::attention_dropout`);
//! - elsewhere, from one draw per stack ([`draw_for_stack`]): on a GPU each draw is a launch
//!   that Burn's fusion cannot join, so drawing at every site also cut the element-wise work
//!   around it into separate kernels (60 draws a small step, ~80 launches more around them).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use burn::tensor::{DType, Device, Distribution, Tensor};

use super::precision::cast;
use crate::kernels::dropout_runs;
#[cfg(feature = "wgpu")]
use crate::kernels::AttentionDropout;

/// Each mask starts a multiple of this many elements into its stack's draw, so its slice is a
/// view of the draw (GPU buffers bind at offsets aligned to 256 bytes at most; 1 KiB in f32).
const MASK_ALIGN: usize = 256;

thread_local! {
    /// The current stack's masks not yet taken, in the order its sites run.
    static MASKS: RefCell<VecDeque<Mask>> = const { RefCell::new(VecDeque::new()) };
    /// Sites that drew their own mask (no stack draw matched them).
    static OWN_DRAWS: Cell<usize> = const { Cell::new(0) };
}

/// One site's 0/1 keep mask, cut from its stack's draw.
struct Mask {
    rate: f64,
    keep: Tensor<3>,
}

/// `x` with dropout at `rate` on an autodiff (training) device; `x` itself at rate 0 and
/// outside training (inference, validation: no autodiff), as `model.eval()` in PyTorch.
/// Draws its own mask (LoRA's inputs use this).
pub fn dropout<const D: usize>(x: Tensor<D>, rate: f64) -> Tensor<D> {
    if !drops(rate, &x.device()) {
        return x;
    }
    let keep = Tensor::<D>::random(x.shape(), Distribution::Bernoulli(1.0 - rate), &x.device());
    let keep = cast(keep, x.dtype());
    apply(x, keep, rate)
}

/// T5's dropout at one of a stack's sites: as [`dropout`], by `kernels::dropout` where it
/// runs, else with the next mask of the stack's draw where it has the site's shape and rate,
/// else with a mask of its own.
pub fn dropout_site(x: Tensor<3>, rate: f64) -> Tensor<3> {
    if !drops(rate, &x.device()) {
        return x;
    }
    #[cfg(feature = "wgpu")]
    if by_kernel(&x) {
        return crate::kernels::dropout(x, AttentionDropout::next(rate));
    }
    match next_mask(&x, rate) {
        Some(keep) => apply(x, keep, rate),
        None => {
            OWN_DRAWS.set(OWN_DRAWS.get() + 1);
            dropout(x, rate)
        }
    }
}

/// [`dropout`] of a layer's input (LoRA's adapters'), by `kernels::dropout` where it runs (no
/// mask kept), else with a mask of its own.
pub fn dropout_input(x: Tensor<3>, rate: f64) -> Tensor<3> {
    #[cfg(feature = "wgpu")]
    if drops(rate, &x.device()) && by_kernel(&x) {
        return crate::kernels::dropout(x, AttentionDropout::next(rate));
    }
    dropout(x, rate)
}

/// Whether `kernels::dropout` takes `x`.
#[cfg(feature = "wgpu")]
fn by_kernel(x: &Tensor<3>) -> bool {
    dropout_runs(&x.device(), x.dtype(), x.shape().num_elements())
}

/// `residual + dropout_site(x, rate)`: a sub-layer's output into the residual stream, in one
/// launch where `kernels::dropout_add` runs.
pub fn dropout_add(residual: Tensor<3>, x: Tensor<3>, rate: f64) -> Tensor<3> {
    #[cfg(feature = "wgpu")]
    if drops(rate, &x.device())
        && residual.dtype() == x.dtype()
        && residual.dims() == x.dims()
        && by_kernel(&x)
    {
        return crate::kernels::dropout_add(residual, x, AttentionDropout::next(rate));
    }
    residual + dropout_site(x, rate)
}

/// The next mask of the stack's draw (cast to `x`'s dtype) if it has `x`'s shape and `rate`;
/// else none, and the stack's masks are dropped (out of step with its sites, they are no use
/// further on either).
fn next_mask(x: &Tensor<3>, rate: f64) -> Option<Tensor<3>> {
    let mask = MASKS.with_borrow_mut(|masks| {
        let fits = masks
            .front()
            .is_some_and(|mask| mask.rate == rate && mask.keep.dims() == x.dims());
        if fits {
            masks.pop_front()
        } else {
            masks.clear();
            None
        }
    });
    mask.map(|mask| cast(mask.keep, x.dtype()))
}

/// How many sites on this thread drew a mask of their own, outside their stack's draw (0
/// when every stack listed its sites right).
pub fn own_draws() -> usize {
    OWN_DRAWS.get()
}

/// Draws the masks of a stack's dropout sites, `shapes` in the order they run, in one go
/// (when training with dropout on `device`, where `kernels::dropout` does not take the
/// sites). They are taken by [`dropout_site`] until the returned guard is dropped.
pub fn draw_for_stack(
    shapes: &[[usize; 3]],
    rate: f64,
    dtype: DType,
    device: &Device,
) -> StackMasks {
    MASKS.with_borrow_mut(VecDeque::clear);
    let elements = |[a, b, c]: [usize; 3]| a * b * c;
    // Where the kernels take every site, nothing to draw.
    let kernels = shapes
        .iter()
        .all(|&shape| dropout_runs(device, dtype, elements(shape)));
    if drops(rate, device) && !shapes.is_empty() && !kernels {
        let padded = |shape| elements(shape).div_ceil(MASK_ALIGN) * MASK_ALIGN;
        let total = shapes.iter().copied().map(padded).sum::<usize>();
        let draw = Tensor::<1>::random([total], Distribution::Bernoulli(1.0 - rate), device);
        let draw = cast(draw, dtype);
        let mut start = 0;
        let masks = shapes
            .iter()
            .map(|&shape| {
                let keep = draw
                    .clone()
                    .slice(start..start + elements(shape))
                    .reshape(shape);
                start += padded(shape);
                Mask { rate, keep }
            })
            .collect();
        MASKS.set(masks);
    }
    StackMasks(())
}

/// Keeps a stack's masks available to its sites; drops those left when it goes.
#[must_use = "the masks go when the guard does"]
pub struct StackMasks(());

impl Drop for StackMasks {
    fn drop(&mut self) {
        MASKS.with_borrow_mut(VecDeque::clear);
    }
}

fn drops(rate: f64, device: &Device) -> bool {
    rate > 0.0 && device.is_autodiff()
}

fn apply<const D: usize>(x: Tensor<D>, keep: Tensor<D>, rate: f64) -> Tensor<D> {
    (x * keep).div_scalar(1.0 - rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_at_the_rate_and_scales_the_rest_only_in_training() {
        let device = Device::flex();
        let ones = |device: &Device| Tensor::<2>::ones([200, 100], device);
        let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        // Inference: the identity.
        let same = values(dropout(ones(&device), 0.25));
        assert!(same.iter().all(|&v| v == 1.0));
        let training = device.clone().autodiff();
        training.seed(7);
        let dropped = values(dropout(ones(&training), 0.25));
        let zeros = dropped.iter().filter(|&&v| v == 0.0).count();
        let scaled = dropped
            .iter()
            .filter(|&&v| (v - 4.0 / 3.0).abs() < 1e-6)
            .count();
        assert_eq!(zeros + scaled, dropped.len(), "only 0 and 1 / (1 - rate)");
        let share = zeros as f64 / dropped.len() as f64;
        assert!((share - 0.25).abs() < 0.02, "{share} of 20000 dropped");
        // The same seed, the same draws; rate 0, the identity.
        training.seed(7);
        let again = values(dropout(ones(&training), 0.25));
        assert_eq!(dropped, again);
        let kept = values(dropout(ones(&training), 0.0));
        assert!(kept.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn a_stacks_sites_take_their_own_slices_of_one_draw_in_order() {
        let training = Device::flex().autodiff();
        training.seed(11);
        let (first, second) = ([4, 30, 50], [2, 7, 100]);
        let before = own_draws();
        let guard = draw_for_stack(&[first, second, first], 0.5, DType::F32, &training);
        let values = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().unwrap();
        let a = values(dropout_site(Tensor::ones(first, &training), 0.5));
        let b = values(dropout_site(Tensor::ones(second, &training), 0.5));
        let c = values(dropout_site(Tensor::ones(first, &training), 0.5));
        assert_eq!(own_draws(), before, "all three came from the stack's draw");
        for mask in [&a, &b, &c] {
            assert!(mask.iter().all(|&v| v == 0.0 || v == 2.0));
            let share = mask.iter().filter(|&&v| v == 0.0).count() as f64 / mask.len() as f64;
            assert!((share - 0.5).abs() < 0.06, "{share} dropped");
        }
        assert_ne!(a, c, "two sites of one shape got the same slice");
        // Past the listed sites (or out of step with them) a site draws its own.
        let _ = dropout_site(Tensor::ones(first, &training), 0.5);
        assert_eq!(own_draws(), before + 1);
        // Another rate, or the guard gone: the site draws its own.
        let again = draw_for_stack(&[first], 0.5, DType::F32, &training);
        let _ = dropout_site(Tensor::ones(first, &training), 0.25);
        assert_eq!(own_draws(), before + 2);
        drop((guard, again));
        let _ = draw_for_stack(&[first], 0.5, DType::F32, &training);
        let _ = dropout_site(Tensor::ones(first, &training), 0.5);
        assert_eq!(own_draws(), before + 3);
    }
}
