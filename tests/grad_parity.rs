//! Gradients and one AdamW step against HF transformers on the tiny Flan-T5 fixture
//! (`grad_global_norm`, five `grad.*` tensors, `loss_after_one_adamw_step`), on `flex`.
//! Tolerance: 1e-4 relative.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Gradients, Tensor};
use common::*;
use mixtune::model::loader::load_dir;
use mixtune::model::T5ForConditionalGeneration;

const RELATIVE: f32 = 1e-4;

fn loss(model: &T5ForConditionalGeneration, device: &Device) -> Tensor<1> {
    let (ids, mask) = reference_inputs(device);
    model.loss(ids, mask, &reference_labels())
}

/// Sum of squared gradients over every parameter.
struct SquaredNorm<'a> {
    grads: &'a Gradients,
    total: f64,
    params: usize,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = param.val().grad(self.grads) {
            self.total += grad.square().sum().into_scalar::<f32>() as f64;
            self.params += 1;
        }
    }
}

fn host2(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn assert_close(name: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: length");
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let diff = max_abs_diff(ours, theirs);
    assert!(
        diff / scale < RELATIVE,
        "{name}: max abs diff {diff} vs max |ref| {scale}"
    );
}

#[test]
fn gradients_match_reference() {
    let device = Device::flex().autodiff();
    let model = load_dir(&tiny_flan(), &device).unwrap().model;
    let grads = loss(&model, &device).backward();

    let mut norm = SquaredNorm {
        grads: &grads,
        total: 0.0,
        params: 0,
    };
    model.visit(&mut norm);
    let expected_norm = reference_json()["grad_global_norm"].as_f64().unwrap();
    let global = norm.total.sqrt();
    assert!(
        norm.params > 40,
        "only {} parameters had gradients",
        norm.params
    );
    assert!(
        ((global - expected_norm) / expected_norm).abs() < RELATIVE as f64,
        "global norm {global} vs {expected_norm}"
    );

    let grad = |t: Tensor<2>| host2(t.grad(&grads).expect("gradient"));
    let grad1 = |t: Tensor<1>| {
        t.grad(&grads)
            .expect("gradient")
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    // Linear weights are stored [in, out]: transpose to HF's [out, in].
    let linear_grad = |t: Tensor<2>| host2(t.grad(&grads).expect("gradient").transpose());
    let enc0 = &model.encoder.blocks[0].self_attention.self_attention;
    let dec0 = &model.decoder.blocks[0].cross_attention.enc_dec_attention;
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("grad.shared.weight", grad(model.shared.val())),
        (
            "grad.encoder.block.0.layer.0.SelfAttention.q.weight",
            linear_grad(enc0.q.weight.val()),
        ),
        (
            "grad.encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
            grad(enc0.relative_attention_bias.as_ref().unwrap().val()),
        ),
        (
            "grad.decoder.block.0.layer.1.EncDecAttention.v.weight",
            linear_grad(dec0.v.weight.val()),
        ),
        (
            "grad.decoder.final_layer_norm.weight",
            grad1(model.decoder.final_layer_norm.weight.val()),
        ),
    ];
    for (name, ours) in cases {
        assert_close(name, &ours, &reference_tensor(name).f32);
    }
}

#[test]
fn loss_after_one_adamw_step_matches_reference() {
    let device = Device::flex().autodiff();
    let model = load_dir(&tiny_flan(), &device).unwrap().model;
    let grads = loss(&model, &device).backward();
    let grads = GradientsParams::from_grads(grads, &model);
    // PyTorch's AdamW defaults (Burn's differ: eps 1e-5, weight decay 1e-4).
    let mut optimizer = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let model = optimizer.step(1e-3, model, grads);
    let after: f32 = loss(&model, &device).into_scalar();
    let expected = reference_json()["loss_after_one_adamw_step"]
        .as_f64()
        .unwrap() as f32;
    assert!(
        ((after - expected) / expected).abs() < RELATIVE,
        "loss after one step {after} vs {expected}"
    );
}
