//! `mixtune bench attention`: the training step's attention, forward and backward, at a
//! model's shapes, timed through the tensor ops (HF's eager math), the scalar WGSL kernels and
//! their cooperative-matrix variants (f16, where the adapter has cooperative matrices): what
//! each way costs per layer and per step on this card.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{DType, Device, Distribution, Tensor};
use clap::Args;

use mixtune::device::{self, DeviceChoice};
use mixtune::kernels;

#[derive(Args, Debug)]
pub struct AttentionBench {
    /// small, base, or both: their heads and layers.
    #[arg(long, default_value = "base")]
    shapes: String,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Encoder length (its self-attention's queries and keys, the cross-attention's keys).
    #[arg(long, default_value_t = 512)]
    source_len: usize,
    /// Decoder length (its self-attention, causal; the cross-attention's queries).
    #[arg(long, default_value_t = 128)]
    target_len: usize,
    /// Timed forward + backward passes per figure, after two untimed ones.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// One attention of a training step: `heads` over `q_len` queries and `k_len` keys, `layers`
/// times per step.
struct Site {
    name: &'static str,
    q_len: usize,
    k_len: usize,
    causal: bool,
    layers: usize,
}

/// The attentions of a step of a model with `encoder` and `decoder` layers.
fn sites(source_len: usize, target_len: usize, encoder: usize, decoder: usize) -> [Site; 3] {
    let site = |name, q_len, k_len, causal, layers| Site {
        name,
        q_len,
        k_len,
        causal,
        layers,
    };
    [
        site("encoder self", source_len, source_len, false, encoder),
        site("decoder self", target_len, target_len, true, decoder),
        site("cross", target_len, source_len, false, decoder),
    ]
}

/// A way to compute attention: the tensor ops, or the kernels (scalar or cooperative), in
/// `dtype`.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Ops(DType),
    Kernels(DType),
    Coop,
}

impl Way {
    const ALL: [Way; 5] = [
        Way::Ops(DType::F32),
        Way::Kernels(DType::F32),
        Way::Ops(DType::F16),
        Way::Kernels(DType::F16),
        Way::Coop,
    ];

    fn header(self) -> &'static str {
        match self {
            Way::Ops(DType::F32) => "ops f32",
            Way::Kernels(DType::F32) => "kernels f32",
            Way::Ops(_) => "ops f16",
            Way::Kernels(_) => "kernels f16",
            Way::Coop => "coop f16",
        }
    }

    fn dtype(self) -> DType {
        match self {
            Way::Ops(dtype) | Way::Kernels(dtype) => dtype,
            Way::Coop => DType::F16,
        }
    }

    /// Switches the cooperative-matrix kernels on for [`Way::Coop`], off for the others: what
    /// `kernels::attention` then runs.
    fn select(self) {
        #[cfg(feature = "wgpu")]
        kernels::set_coop_attention_enabled(self == Way::Coop);
    }

    /// Whether this way runs as named on `device` for `heads` of size `d_kv` (the kernels
    /// need a wgpu build and device; the cooperative ones an adapter with cooperative
    /// matrices), once [`Way::select`]ed.
    fn runs(self, device: &Device, d_kv: usize) -> bool {
        let probe = Tensor::<4>::zeros([1, 1, 1, d_kv], device).cast(self.dtype());
        let bias = Tensor::<4>::zeros([1, 1, 1, 1], device);
        let kernel =
            kernels::kernel_runs(kernels::Kernel::Attention, &probe, &probe, &probe, &bias);
        self.select();
        match self {
            Way::Ops(_) => true,
            Way::Kernels(_) => kernel,
            #[cfg(feature = "wgpu")]
            Way::Coop => {
                kernel && kernels::attention_coop_shape(device, DType::F16, d_kv).is_some()
            }
            #[cfg(not(feature = "wgpu"))]
            Way::Coop => false,
        }
    }
}

/// Seconds per forward + backward pass of `site` through `way` (batch, heads, d_kv as
/// given), over `iters` passes after two untimed ones. The position bias is trained (it gets
/// a gradient), as T5's; the decoder's self-attention adds a causal mask.
fn time(
    site: &Site,
    [batch, heads, d_kv]: [usize; 3],
    way: Way,
    iters: usize,
    device: &Device,
) -> Result<f64> {
    let leaf = |len: usize| {
        Tensor::<4>::random([batch, heads, len, d_kv], Distribution::Default, device)
            .cast(way.dtype())
            .require_grad()
    };
    let (q, k, v) = (leaf(site.q_len), leaf(site.k_len), leaf(site.k_len));
    let position = Tensor::<4>::random(
        [1, heads, site.q_len, site.k_len],
        Distribution::Default,
        device,
    )
    .require_grad();
    let mask = if site.causal {
        let future =
            Tensor::<2, burn::tensor::Bool>::tril_mask([site.q_len, site.k_len], 0, device);
        Tensor::<2>::zeros([site.q_len, site.k_len], device)
            .mask_fill(future, f32::MIN)
            .reshape([1, 1, site.q_len, site.k_len])
    } else {
        Tensor::<4>::zeros([1, 1, 1, site.k_len], device)
    };
    let pass = || {
        let bias = position.clone() + mask.clone();
        let out = match way {
            Way::Ops(_) => kernels::reference_attention(q.clone(), k.clone(), v.clone(), bias),
            Way::Kernels(_) | Way::Coop => {
                kernels::attention(q.clone(), k.clone(), v.clone(), bias, 0.0)
            }
        };
        let grads = out.cast(DType::F32).sum().backward();
        q.grad(&grads).map(|g| g.slice([0..1, 0..1, 0..1, 0..1]))
    };
    let run = |count: usize| -> Result<f64> {
        let start = Instant::now();
        let mut last = None;
        for _ in 0..count {
            last = pass();
        }
        device.sync()?;
        if let Some(last) = last {
            last.into_data();
        }
        Ok(start.elapsed().as_secs_f64() / count as f64)
    };
    run(2)?;
    run(iters)
}

pub fn bench_attention(args: AttentionBench) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let device = selected.device.autodiff();
    let shapes = super::bench::shape_names(&args.shapes)?;
    anyhow::ensure!(args.iters > 0, "--iters must be at least 1");
    anyhow::ensure!(
        args.batch > 0 && args.source_len > 0 && args.target_len > 0,
        "--batch, --source-len and --target-len must be at least 1"
    );
    #[cfg(feature = "wgpu")]
    let coop_at_start = kernels::coop_attention_enabled();
    println!("device: {}", selected.label);
    print!(
        "{:<6} {:<13} {:>16}",
        "shapes", "attention", "b × h × q × k"
    );
    for way in Way::ALL {
        print!(" {:>16}", way.header());
    }
    println!();
    for shape_name in shapes {
        let config = super::bench::shape_config(shape_name);
        let dims = [args.batch, config.num_heads, config.d_kv];
        let runs: Vec<bool> = Way::ALL
            .iter()
            .map(|way| way.runs(&device, config.d_kv))
            .collect();
        let mut per_step = [0.0f64; Way::ALL.len()];
        let layers = [config.num_layers, config.decoder_layers()];
        for site in sites(args.source_len, args.target_len, layers[0], layers[1]) {
            print!(
                "{:<6} {:<13} {:>16}",
                shape_name,
                site.name,
                format!(
                    "{} × {} × {} × {}",
                    args.batch, config.num_heads, site.q_len, site.k_len
                )
            );
            // Forward (two products) and backward (four), unscaled: 12 · b · h · q · k · d.
            let flop = 12.0
                * (args.batch * config.num_heads * site.q_len * site.k_len * config.d_kv) as f64;
            for (i, way) in Way::ALL.into_iter().enumerate() {
                if !runs[i] {
                    print!(" {:>16}", "n/a");
                    continue;
                }
                way.select();
                let seconds = time(&site, dims, way, args.iters, &device)?;
                per_step[i] += seconds * site.layers as f64;
                let cell = format!("{:.2} ms {:.2}", seconds * 1e3, flop / seconds / 1e12);
                print!(" {cell:>16}");
            }
            println!();
        }
        print!(
            "{:<6} {:<13} {:>16}",
            shape_name,
            "per step",
            format!("{} + {} layers", layers[0], layers[1])
        );
        for (i, seconds) in per_step.iter().enumerate() {
            let cell = if runs[i] {
                format!("{:.1} ms", seconds * 1e3)
            } else {
                "n/a".to_string()
            };
            print!(" {cell:>16}");
        }
        println!();
    }
    #[cfg(feature = "wgpu")]
    kernels::set_coop_attention_enabled(coop_at_start);
    println!(
        "ms per forward + backward pass and TFLOP/s (12·b·h·q·k·d: its six products); each the \
         mean of --iters passes, synced at the end; per step: each attention times its layers"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_has_the_encoders_decoders_and_cross_attention() {
        let [encoder, decoder, cross] = sites(512, 128, 12, 10);
        assert_eq!(
            (encoder.q_len, encoder.k_len, encoder.causal),
            (512, 512, false)
        );
        assert_eq!(
            (decoder.q_len, decoder.k_len, decoder.causal),
            (128, 128, true)
        );
        assert_eq!((encoder.layers, decoder.layers), (12, 10));
        assert_eq!((cross.q_len, cross.k_len, cross.layers), (128, 512, 10));
    }

    #[test]
    fn the_cpu_times_the_tensor_ops_and_refuses_bad_arguments() {
        let _generator = crate::cli::cpu_generator();
        let args = |shapes: &str, iters| AttentionBench {
            shapes: shapes.into(),
            batch: 1,
            source_len: 9,
            target_len: 5,
            iters,
            device: "cpu".into(),
        };
        bench_attention(args("small", 1)).unwrap();
        let error = bench_attention(args("large", 1)).unwrap_err().to_string();
        assert!(error.contains("--shapes `large`"), "{error}");
        let error = bench_attention(args("small", 0)).unwrap_err().to_string();
        assert!(error.contains("--iters"), "{error}");
    }
}
