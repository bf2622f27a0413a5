//! `mixtune bench gemm`: the training step's matrix products one by one, timed through
//! Burn's matmul (f32 and f16), `shaders/tiled_matmul.wgsl` (f32, register-tiled: 128-wide
//! blocks, 64-wide ones, and 128-wide with K split among workgroups) and the
//! cooperative-matrix kernels (f16, where the adapter has cooperative matrices: tiles loaded
//! from global memory, staged in workgroup memory, and the first with K split among
//! subgroups): which of them pays, and by how much,
//! on this card; and which one training picks for each (`kernels::product_choice`).

use std::time::Instant;

use anyhow::Result;
use burn::tensor::{DType, Device, Distribution, Tensor};
use clap::Args;

use mixtune::device::{self, DeviceChoice};
use mixtune::model::T5Config;

#[derive(Args, Debug)]
pub struct GemmBench {
    /// small, base, or both: the products of their linear layers.
    #[arg(long, default_value = "base")]
    shapes: String,
    /// Rows of each product (batch × length; 4096 = 8 × 512).
    #[arg(long, default_value_t = 4096)]
    tokens: usize,
    /// Timed products per row of the table, after three untimed ones.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// One product of a training step: `[m, k] · [k, n]`, and whether A or B is read transposed
/// (the backward pass's `dy · Wᵀ` and `xᵀ · dy`).
struct Product {
    name: String,
    m: usize,
    k: usize,
    n: usize,
    a_transposed: bool,
    b_transposed: bool,
}

/// The forward product of a `[tokens, d_in] · [d_in, d_out]` layer and its two backward ones.
fn layer(name: &str, tokens: usize, d_in: usize, d_out: usize) -> [Product; 3] {
    let product = |what: &str, m, k, n, a_transposed, b_transposed| Product {
        name: format!("{name} {what}"),
        m,
        k,
        n,
        a_transposed,
        b_transposed,
    };
    [
        product("x·W", tokens, d_in, d_out, false, false),
        product("dy·Wᵀ", tokens, d_out, d_in, false, true),
        product("xᵀ·dy", d_in, tokens, d_out, true, false),
    ]
}

/// The products of one layer of each linear kind of `config` at `tokens` rows: query, key and
/// value packed, the gated feed-forward's packed input and its output.
fn products(config: &T5Config, tokens: usize) -> Vec<Product> {
    let inner = config.num_heads * config.d_kv;
    let (d, ff) = (config.d_model, config.d_ff);
    let mut all = Vec::new();
    all.extend(layer("qkv", tokens, d, 3 * inner));
    all.extend(layer("wi", tokens, d, 2 * ff));
    all.extend(layer("wo", tokens, ff, d));
    all
}

/// An `[rows, cols]` operand in `dtype`, stored transposed (a column-major view) when asked.
fn operand(rows: usize, cols: usize, transposed: bool, dtype: DType, device: &Device) -> Tensor<2> {
    let dims = if transposed {
        [cols, rows]
    } else {
        [rows, cols]
    };
    let t = Tensor::<2>::random(dims, Distribution::Default, device).cast(dtype);
    if transposed {
        t.transpose()
    } else {
        t
    }
}

/// TFLOP/s of `product` through `multiply`, over `iters` products after three untimed ones.
fn time(
    product: &Product,
    dtype: DType,
    iters: usize,
    device: &Device,
    multiply: impl Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
) -> Result<f64> {
    let a = operand(product.m, product.k, product.a_transposed, dtype, device);
    let b = operand(product.k, product.n, product.b_transposed, dtype, device);
    let run = |count: usize| -> Result<f64> {
        let start = Instant::now();
        // Kept, and the last one read, so no product is skipped as unused.
        let outputs: Vec<Tensor<2>> = (0..count).map(|_| multiply(a.clone(), b.clone())).collect();
        device.sync()?;
        if let Some(last) = outputs.last() {
            last.clone().slice([0..1, 0..1]).into_data();
        }
        Ok(start.elapsed().as_secs_f64())
    };
    run(3)?;
    let seconds = run(iters)?;
    let flop = 2.0 * (product.m * product.k * product.n * iters) as f64;
    Ok(flop / seconds / 1e12)
}

/// The f32 kernels of ours [`our_rates`] times, as columns.
const F32_KERNELS: [&str; 3] = ["tiled-f32", "tiled-f32-64", "tiled-f32-split-k"];
/// The f16 ones (where the adapter has cooperative matrices).
const F16_KERNELS: [&str; 3] = ["coop", "coop-staged", "coop-split-k"];

/// TFLOP/s of `product` in `dtype` on each of our kernels `names` on `device` (`n/a` where
/// one does not fit it or did not pass its self-check here), as the table's columns.
#[cfg(feature = "wgpu")]
fn our_rates(
    device: &Device,
    product: &Product,
    dtype: DType,
    names: [&str; 3],
    iters: usize,
) -> Result<String> {
    use mixtune::kernels::{multiply_by, product_kernels, set_coop_staged, set_f32_gemm, Pick};
    // Every kernel that fits listed (the picks only say which one takes it).
    set_f32_gemm(Pick::Always);
    set_coop_staged(Pick::Measured);
    let (kernels, _) = product_kernels(device, dtype, [product.m, product.k, product.n]);
    let mut rates = String::new();
    for name in names {
        let rate = match kernels.iter().copied().find(|kernel| kernel.name() == name) {
            Some(kernel) => {
                let rate = time(product, dtype, iters, device, |a, b| {
                    multiply_by(a, b, kernel)
                })?;
                format!(" {rate:>11.3}")
            }
            None => format!(" {:>11}", "n/a"),
        };
        rates.push_str(&rate);
    }
    Ok(rates)
}

/// Which kernel training would take `product` by in f32 and in f16 on `device` (the
/// process's measured choice, made now if new: `kernels::product_choice`), as `f32 / f16`.
#[cfg(feature = "wgpu")]
fn picked(device: &Device, product: &Product) -> String {
    use mixtune::kernels::{product_choice, product_kernels, set_coop_staged, set_f32_gemm, Pick};
    set_f32_gemm(Pick::Measured);
    set_coop_staged(Pick::Measured);
    let dims = [product.m, product.k, product.n];
    let row_major = [!product.a_transposed, !product.b_transposed];
    let pick = |dtype: DType| {
        let (kernels, _) = product_kernels(device, dtype, dims);
        product_choice::choose(device, &kernels, dims, row_major).map_or("burn", |p| p.name())
    };
    format!("{} / {}", pick(DType::F32), pick(DType::F16))
}

/// Without `wgpu` Burn's matmul takes every product.
#[cfg(not(feature = "wgpu"))]
fn picked(_device: &Device, _product: &Product) -> String {
    "burn / burn".into()
}

/// Without `wgpu` there is no kernel of ours.
#[cfg(not(feature = "wgpu"))]
fn our_rates(
    _device: &Device,
    _product: &Product,
    _dtype: DType,
    names: [&str; 3],
    _iters: usize,
) -> Result<String> {
    Ok(names.map(|_| format!(" {:>11}", "n/a")).concat())
}

pub fn bench_gemm(args: GemmBench) -> Result<()> {
    let selected = device::select(args.device.parse::<DeviceChoice>()?)?;
    let device = selected.device;
    let shapes = super::bench::shape_names(&args.shapes)?;
    anyhow::ensure!(args.iters > 0, "--iters must be at least 1");
    #[cfg(feature = "wgpu")]
    let staged_at_start = mixtune::kernels::coop_staged();
    let tiled_at_start = mixtune::kernels::f32_gemm();
    #[cfg(feature = "wgpu")]
    let coop = mixtune::kernels::device_coop_shape(&device);
    #[cfg(not(feature = "wgpu"))]
    let coop: Option<()> = None;
    println!("device: {}", selected.label);
    match coop {
        Some(shape) => println!("cooperative matrices: {shape:?}"),
        None => println!("cooperative matrices: none on this device (its column reads n/a)"),
    }
    println!(
        "{:<6} {:<12} {:>18} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}  picked f32 / f16",
        "shapes",
        "product",
        "m × k × n",
        "f32 burn",
        "f32 tiled",
        "tiled 64",
        "split-k",
        "f16 burn",
        "f16 coop",
        "coop staged",
        "coop split-k"
    );
    for shape_name in shapes {
        for product in products(&super::bench::shape_config(shape_name), args.tokens) {
            let burn = |a: Tensor<2>, b: Tensor<2>| a.matmul(b);
            let f32_rate = time(&product, DType::F32, args.iters, &device, burn)?;
            let tiled_rates = our_rates(&device, &product, DType::F32, F32_KERNELS, args.iters)?;
            let f16_rate = time(&product, DType::F16, args.iters, &device, burn)?;
            let coop_rates = our_rates(&device, &product, DType::F16, F16_KERNELS, args.iters)?;
            let picked = picked(&device, &product);
            mixtune::kernels::set_f32_gemm(tiled_at_start);
            println!(
                "{:<6} {:<12} {:>18} {:>11.3}{tiled_rates} {:>11.3}{coop_rates}  {picked}",
                shape_name,
                product.name,
                format!("{} × {} × {}", product.m, product.k, product.n),
                f32_rate,
                f16_rate,
            );
        }
    }
    #[cfg(feature = "wgpu")]
    mixtune::kernels::set_coop_staged(staged_at_start);
    println!(
        "TFLOP/s; each figure the mean of --iters products on this device, synced at both ends"
    );
    println!(
        "picked: the kernel training takes each product by here (`burn`: Burn's matmul), \
         measured the first time a product of its size class comes"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_its_forward_product_and_both_backward_ones() {
        let [forward, d_x, d_w] = layer("wo", 4096, 2048, 768);
        assert_eq!((forward.m, forward.k, forward.n), (4096, 2048, 768));
        assert_eq!(
            (d_x.m, d_x.k, d_x.n, d_x.b_transposed),
            (4096, 768, 2048, true)
        );
        assert_eq!(
            (d_w.m, d_w.k, d_w.n, d_w.a_transposed),
            (2048, 4096, 768, true)
        );
        let base = products(&T5Config::flan_t5_base(), 4096);
        assert_eq!(base.len(), 9);
        assert_eq!((base[0].k, base[0].n), (768, 3 * 768));
        assert_eq!((base[3].k, base[3].n), (768, 2 * 2048));
    }

    #[test]
    fn the_cpu_times_every_product_and_refuses_unknown_shapes() {
        let _generator = crate::cli::cpu_generator();
        let args = GemmBench {
            shapes: "small".into(),
            tokens: 16,
            iters: 1,
            device: "cpu".into(),
        };
        bench_gemm(args).unwrap();
        let bad = GemmBench {
            shapes: "large".into(),
            tokens: 16,
            iters: 1,
            device: "cpu".into(),
        };
        let error = bench_gemm(bad).unwrap_err().to_string();
        assert!(error.contains("--shapes `large`"), "{error}");
    }
}
