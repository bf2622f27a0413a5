//! `kernels::reference_attention`, the plain-Burn math the WGSL kernels are tested against, is
//! the model's attention (`T5Attention::attend`), and on flex the kernel entry points
//! (`attention`, `decode_attention`) are that reference. Runs everywhere (CPU).
//! Tolerance: 1e-5 absolute (the same ops in the same order; only the head split differs).

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use mixtune::kernels::{attention, decode_attention, kernel_runs, reference_attention, Kernel};
use mixtune::model::attention::T5Attention;
use mixtune::model::T5Config;

const TOLERANCE: f32 = 1e-5;

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar()
}

/// `[batch, 1, 1, k_len]`: 0 on the first `lengths[b]` keys, `f32::MIN` after.
fn padding_bias(lengths: &[usize], k_len: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = lengths
        .iter()
        .flat_map(|&len| (0..k_len).map(move |j| if j < len { 0.0 } else { f32::MIN }))
        .collect();
    Tensor::from_data(
        TensorData::new(values, [lengths.len(), 1, 1, k_len]),
        device,
    )
}

#[test]
fn reference_matches_model_attention() {
    let device = Device::flex();
    let config = T5Config::flan_t5_small();
    let layer = T5Attention::new(&config, true, &device);
    let [batch, q_len, k_len] = [2, 5, 7];
    let (heads, d_kv) = (config.num_heads, config.d_kv);
    let normal = Distribution::Normal(0.0, 1.0);
    let hidden = Tensor::<3>::random([batch, q_len, config.d_model], normal, &device);
    let memory = Tensor::<3>::random([batch, k_len, config.d_model], normal, &device);
    let kv = layer.project_kv(memory);
    let bias =
        layer.position_bias(q_len, k_len, 0, true, &device) + padding_bias(&[7, 4], k_len, &device);

    let expected = layer.attend(hidden.clone(), &kv, bias.clone());

    let query = layer
        .q
        .forward(hidden)
        .reshape([batch, q_len, heads, d_kv])
        .swap_dims(1, 2);
    let context = reference_attention(
        query.clone(),
        kv.keys.clone(),
        kv.values.clone(),
        bias.clone(),
    );
    let got =
        layer.o.forward(
            context
                .clone()
                .swap_dims(1, 2)
                .reshape([batch, q_len, heads * d_kv]),
        );
    let diff = max_diff(got, expected);
    assert!(diff < TOLERANCE, "reference differs from attend by {diff}");

    assert!(!kernel_runs(
        Kernel::Attention,
        &query,
        &kv.keys,
        &kv.values,
        &bias
    ));
    let through_entry = attention(
        query.clone(),
        kv.keys.clone(),
        kv.values.clone(),
        bias.clone(),
        0.0,
    );
    assert_eq!(max_diff(through_entry, context.clone()), 0.0);
    let last_row = |t: Tensor<4>| t.slice([0..batch, 0..heads, q_len - 1..q_len]);
    let decoded = decode_attention(
        last_row(query),
        kv.keys.clone(),
        kv.values.clone(),
        last_row(bias),
    );
    assert_eq!(max_diff(decoded, last_row(context)), 0.0);
}
