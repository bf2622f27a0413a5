//! HF's `nn.Dropout` as T5 uses it in training (`dropout_rate`): each element zeroed with
//! probability `rate`, the others scaled by `1 / (1 - rate)`. The draws come from the
//! device's generator, which the run loop seeds at every step, so a resumed run draws what
//! an uninterrupted one would.

use burn::tensor::{Distribution, Tensor};

use super::precision::cast;

/// `x` with dropout at `rate` on an autodiff (training) device; `x` itself at rate 0 and
/// outside training (inference, validation: no autodiff), as `model.eval()` in PyTorch.
pub fn dropout<const D: usize>(x: Tensor<D>, rate: f64) -> Tensor<D> {
    if rate <= 0.0 || !x.device().is_autodiff() {
        return x;
    }
    let keep = Tensor::<D>::random(x.shape(), Distribution::Bernoulli(1.0 - rate), &x.device());
    let keep = cast(keep, x.dtype());
    (x * keep).div_scalar(1.0 - rate)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

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
}
