//! Matrix products for the CPU backend's decode steps.
//!
//! Burn's `flex` backend multiplies on one thread below 192³ multiply-adds (its gemm's
//! parallel threshold). A decode step's projections, `[batch, d_model] × [d_model, d_ff]`
//! with a batch of one or a few rows, all fall below it, so generation on the CPU would use
//! one core. Splitting the weight's columns across rayon's threads uses every core for
//! them; each part is still flex's own gemm on a strided view (no copy of the weight).

use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

/// Below this many multiply-adds flex runs one thread (burn-flex's `PARALLEL_THRESHOLD`).
const FLEX_PARALLEL_THRESHOLD: usize = 192 * 192 * 192;
/// Columns per part at least: smaller parts cost more in scheduling than they save.
const MIN_COLUMNS: usize = 64;

/// `x · w` for `x` `[rows, k]` and `w` `[k, n]`; on a plain (not autodiff) flex device and
/// below flex's own parallel threshold, the columns of `w` are split across threads.
pub fn matmul(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    let [rows, k] = x.dims();
    let n = w.dims()[1];
    let threads = rayon::current_num_threads();
    let parts = (n / MIN_COLUMNS).min(threads);
    let small = rows.saturating_mul(k).saturating_mul(n) < FLEX_PARALLEL_THRESHOLD;
    if parts < 2 || !small || x.device() != Device::flex() {
        return x.matmul(w);
    }
    let width = n.div_ceil(parts);
    let products: Vec<Tensor<2>> = (0..parts)
        .into_par_iter()
        .map(|part| {
            let columns = part * width..((part + 1) * width).min(n);
            x.clone().matmul(w.clone().slice([0..k, columns]))
        })
        .collect();
    Tensor::cat(products, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn split_product_equals_the_plain_one() {
        let device = Device::flex();
        for (rows, k, n) in [(1, 64, 384), (3, 512, 1024), (2, 33, 257), (1, 8, 8)] {
            let x = Tensor::<2>::random([rows, k], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &device);
            let split: Vec<f32> = matmul(x.clone(), w.clone())
                .into_data()
                .try_to_vec()
                .unwrap();
            let plain: Vec<f32> = x.matmul(w).into_data().try_to_vec().unwrap();
            assert_eq!(split.len(), rows * n);
            for (a, b) in split.iter().zip(&plain) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{a} vs {b} ({rows}x{k}x{n})"
                );
            }
        }
    }
}
