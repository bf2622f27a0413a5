//! The optimizer a run steps with, wrapped so that each gradient is multiplied by the step's
//! factor (global-norm clipping, f16 loss unscaling) inside that gradient's own update.
//!
//! Scaling every gradient first queued one multiply per gradient ahead of all the updates,
//! and Burn's fusion can only join neighbouring element-wise ops of one shape: on a GPU that
//! left 63 lone multiply launches in a Flan-T5-small step. Here the multiply comes right
//! before the update's element-wise ops on the same tensor and fuses into their kernel. The
//! math and its order are unchanged (`grad · factor`, then the optimizer), and the saved
//! state is the wrapped optimizer's own, so checkpoints read and write as before.
//!
//! In f16 training the update also takes an f16 gradient to an f32 master weight and writes
//! the updated weight's f16 working copy (`working_copy`), both within the same kernel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use burn::module::Module;
use burn::optim::{GradientsParams, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

use super::working_copy::CopyRequests;
use crate::model::precision::cast;

/// `O` with each gradient multiplied by a factor shared with its [`ScaledOptimizer`].
#[derive(Clone)]
struct Scaled<O> {
    inner: O,
    /// The factor's `f64` bits.
    factor: Arc<AtomicU64>,
    /// f16 training: the working copies to make of the updated weights.
    copies: CopyRequests,
}

impl<O: Optimizer> Optimizer for Scaled<O> {
    type State<const D: usize> = O::State<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let factor = f64::from_bits(self.factor.load(Ordering::Relaxed));
        // An f16 working copy's gradient updates its f32 master in f32 (the cast fuses with
        // the update, as the multiply does).
        let grad = cast(grad, tensor.dtype());
        let grad = if factor == 1.0 {
            grad
        } else {
            grad.mul_scalar(factor)
        };
        let (tensor, state) = self.inner.step(lr, tensor, grad, state);
        self.copies.after_update(&tensor);
        (tensor, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        O::to_device(state, device)
    }
}

/// A module optimizer whose [`step`](Self::step) multiplies the gradients by a factor.
pub struct ScaledOptimizer {
    optimizer: ModuleOptimizer,
    factor: Arc<AtomicU64>,
    copies: CopyRequests,
}

impl ScaledOptimizer {
    /// Wraps `inner` (AdamW, Adafactor, …).
    pub fn new<O: Optimizer>(inner: O) -> Self {
        let factor = Arc::new(AtomicU64::new(1f64.to_bits()));
        let copies = CopyRequests::default();
        let optimizer = ModuleOptimizer::from(Scaled {
            inner,
            factor: factor.clone(),
            copies: copies.clone(),
        });
        Self {
            optimizer,
            factor,
            copies,
        }
    }

    /// Where its updates make f16 working copies of the weights they update
    /// (`working_copy`).
    pub fn copy_requests(&self) -> CopyRequests {
        self.copies.clone()
    }

    /// One update of `module` at `lr` from `grads`, each multiplied by `factor` first.
    pub fn step<M: Module>(
        &mut self,
        lr: LearningRate,
        module: M,
        grads: GradientsParams,
        factor: f64,
    ) -> M {
        self.factor.store(factor.to_bits(), Ordering::Relaxed);
        let module = self.optimizer.step(lr, module, grads);
        self.factor.store(1f64.to_bits(), Ordering::Relaxed);
        module
    }

    /// The wrapped module optimizer (its state, for checkpoints).
    pub fn module_optimizer(&self) -> &ModuleOptimizer {
        &self.optimizer
    }

    /// The same optimizer with its state replaced by `load` (e.g. from a checkpoint's bytes).
    pub fn try_map<E>(
        self,
        load: impl FnOnce(ModuleOptimizer) -> Result<ModuleOptimizer, E>,
    ) -> Result<Self, E> {
        Ok(Self {
            optimizer: load(self.optimizer)?,
            factor: self.factor,
            copies: self.copies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::optim::AdamWConfig;

    #[derive(Module, Debug)]
    struct One {
        w: Param<Tensor<1>>,
    }

    /// The weight after one AdamW step from `grad · factor` (the gradient of `w · grad`).
    fn stepped(scaled: bool, factor: f64) -> Vec<f32> {
        let device = Device::flex().autodiff();
        let model = One {
            w: Param::from_tensor(Tensor::from_floats([1.0, -2.0, 3.0], &device)),
        };
        let config = AdamWConfig::new().with_epsilon(1.0).with_weight_decay(0.0);
        let weights = Tensor::<1>::from_floats([0.5, 0.25, -4.0], &device);
        let loss = (model.w.val() * weights).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = if scaled {
            ScaledOptimizer::new(config.build()).step(0.1, model, grads, factor)
        } else {
            let grad = grads.remove::<1>(model.w.id).unwrap();
            grads.register::<1>(model.w.id, grad.mul_scalar(factor));
            ModuleOptimizer::from(config.build()).step(0.1, model, grads)
        };
        model.w.val().into_data().try_into_vec().unwrap()
    }

    #[test]
    fn scales_each_gradient_as_scaling_them_first_did() {
        // epsilon 1 keeps the update sensitive to the gradient's size.
        for factor in [1.0, 0.25] {
            assert_eq!(
                stepped(true, factor),
                stepped(false, factor),
                "factor {factor}"
            );
        }
        assert_ne!(stepped(true, 0.25), stepped(true, 1.0));
    }
}
