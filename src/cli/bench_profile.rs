//! How `mixtune bench train --profile` shows a profiled step: GPU time by kernel kind, the
//! top kernels with their share, the GEMMs' achieved TFLOP/s, launches and host syncs.

use serde_json::{json, Value};

use mixtune::device::profile::{Counts, KernelKind, KernelProfile, Timing};
use mixtune::model::flops::TrainingFlops;

/// Kernels listed by name under the kinds.
const TOP: usize = 15;

/// TFLOP/s of `flops` done in `seconds` (`None` without time).
fn tflops(flops: f64, seconds: f64) -> Option<f64> {
    (seconds > 0.0 && flops > 0.0).then(|| flops / seconds / 1e12)
}

/// What a kind's time achieved, for the kinds whose FLOP are counted.
fn achieved(kind: KernelKind, seconds: f64, flops: &TrainingFlops) -> Option<(f64, f64)> {
    let counted = match kind {
        KernelKind::Gemm => flops.matmul(),
        KernelKind::Attention => flops.attention_kernel,
        _ => return None,
    };
    tflops(counted, seconds).map(|rate| (rate, counted / 1e12))
}

/// A kernel's name short enough for a line: CubeCL names a matmul by its whole generic
/// configuration (`MatmulEntry | FusedMatmulArgs | … | SimpleMatmulFamily | …`); keep the
/// kernel, its operation (`KernelBinop | MulOp`) and its algorithm family. A hand-written
/// kernel (`SourceKernel | CoopMatmulKernel`) goes by its own type's name.
pub(super) fn short_name(name: &str) -> String {
    let mut parts = name.split(" | ");
    let first = parts.next().unwrap_or(name);
    if first == "SourceKernel" {
        if let Some(own) = parts.next() {
            return own.to_string();
        }
    }
    let mut short = first.to_string();
    for part in parts {
        if part.ends_with("Op") || part.ends_with("Family") || part.ends_with("Args") {
            short.push(' ');
            short.push_str(part);
        }
    }
    short
}

fn timing_label(timing: Timing) -> &'static str {
    match timing {
        Timing::Device => "device timestamps",
        Timing::System => "host clock around each launch: no timestamp queries on this adapter",
        Timing::None => "no kernel could be timed",
    }
}

/// Prints the profile under the bench's row.
pub fn print(counts: &Counts, kernels: Option<&KernelProfile>, flops: &TrainingFlops) {
    // Which fusion search made the launches (`MIXTUNE_FUSION_MAX_BLOCKS` A/B runs).
    let fusion = match (counts.launches, mixtune::device::fusion_max_blocks()) {
        (Some(_), Some(blocks)) => format!(" (fusion searching {blocks} block(s) of ops)"),
        _ => String::new(),
    };
    println!(
        "       profiled step: {} kernel launches{fusion}, {} host syncs; {:.3} TFLOP in matrix products",
        counts
            .launches
            .map_or("n/a (cpu)".into(), |l| l.to_string()),
        counts.host_reads,
        flops.total() / 1e12
    );
    let Some(profile) = kernels else {
        return;
    };
    let total = profile.kernel_seconds();
    println!(
        "       {:.1} ms in kernels ({}), {:.1} ms wall with every kernel timed",
        total * 1000.0,
        timing_label(profile.timing),
        profile.wall_seconds * 1000.0
    );
    if total <= 0.0 {
        return;
    }
    println!(
        "       {:<22} {:>9} {:>7} {:>9}  achieved",
        "kind", "ms", "share", "launches"
    );
    for kind in profile.by_kind() {
        let rate = achieved(kind.kind, kind.seconds, flops).map_or(String::new(), |(rate, tf)| {
            format!("{rate:.1} TFLOP/s ({tf:.3} TFLOP)")
        });
        println!(
            "       {:<22} {:>9.2} {:>6.1}% {:>9}  {}",
            kind.kind.label(),
            kind.seconds * 1000.0,
            100.0 * kind.seconds / total,
            kind.launches,
            rate
        );
    }
    println!("       top {TOP} kernels:");
    for (rank, kernel) in profile.kernels.iter().take(TOP).enumerate() {
        println!(
            "       {:>3}. {:>5.1}% {:>9.2} ms {:>5}x  {:<10} {}",
            rank + 1,
            100.0 * kernel.seconds / total,
            kernel.seconds * 1000.0,
            kernel.launches,
            format!("{:?}", kernel.kind).to_lowercase(),
            short_name(&kernel.name)
        );
    }
}

/// The profile as `--json` carries it.
pub fn to_json(counts: &Counts, kernels: Option<&KernelProfile>, flops: &TrainingFlops) -> Value {
    let kernels_json = kernels.map(|profile| {
        let total = profile.kernel_seconds();
        let kinds: Vec<Value> = profile
            .by_kind()
            .into_iter()
            .map(|kind| {
                let rate = achieved(kind.kind, kind.seconds, flops);
                json!({"kind": kind.kind, "ms": kind.seconds * 1000.0,
                    "share": if total > 0.0 { kind.seconds / total } else { 0.0 },
                    "launches": kind.launches, "tflops_per_s": rate.map(|r| r.0)})
            })
            .collect();
        let top: Vec<Value> = profile
            .kernels
            .iter()
            .take(TOP)
            .map(|k| {
                json!({"name": k.name, "kind": k.kind, "ms": k.seconds * 1000.0,
                    "share": if total > 0.0 { k.seconds / total } else { 0.0 },
                    "launches": k.launches})
            })
            .collect();
        json!({"timing": profile.timing, "kernel_ms": total * 1000.0,
            "wall_ms": profile.wall_seconds * 1000.0,
            "timed_launches": profile.timed_launches, "kinds": kinds, "top_kernels": top,
            "gemm_tflops_per_s": tflops(flops.matmul(), profile.seconds_of(KernelKind::Gemm))})
    });
    let fusion_max_blocks = counts.launches.and(mixtune::device::fusion_max_blocks());
    json!({"launches": counts.launches, "host_syncs": counts.host_reads,
        "fusion_max_blocks": fusion_max_blocks,
        "tflop": {"linear": flops.linear / 1e12, "attention_matmul": flops.attention_matmul / 1e12,
            "attention_kernel": flops.attention_kernel / 1e12},
        "kernels": kernels_json})
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixtune::device::profile::{Launch, Phase};

    #[test]
    fn long_kernel_names_keep_kernel_operation_and_family() {
        let matmul = "MatmulEntry | FusedMatmulArgs | DynamicScalar | __Lhs | DynamicSize | \
                      SimpleMatmulFamily | UnitPartitioner | () | RowMajorTilingOrder";
        assert_eq!(
            short_name(matmul),
            "MatmulEntry FusedMatmulArgs SimpleMatmulFamily"
        );
        assert_eq!(short_name("KernelBinop | MulOp"), "KernelBinop MulOp");
        assert_eq!(short_name("ElemwiseFuse"), "ElemwiseFuse");
        assert_eq!(
            short_name("SourceKernel | CoopMatmulKernel"),
            "CoopMatmulKernel"
        );
        assert_eq!(short_name("SourceKernel"), "SourceKernel");
    }

    #[test]
    fn gemm_rate_is_counted_flop_over_gemm_time() {
        let flops = TrainingFlops {
            linear: 2e12,
            attention_matmul: 1e12,
            attention_kernel: 0.5e12,
        };
        let launches = vec![
            Launch {
                name: "MatmulEntry".into(),
                phase: Phase::Model,
                seconds: Some(0.1),
            },
            Launch {
                name: "AttentionKernel".into(),
                phase: Phase::Model,
                seconds: Some(0.05),
            },
        ];
        let profile = KernelProfile::from_launches(launches, Timing::Device, 1, 0.2);
        let counts = Counts {
            launches: Some(2),
            host_reads: 1,
        };
        let value = to_json(&counts, Some(&profile), &flops);
        let gemm = value["kernels"]["gemm_tflops_per_s"].as_f64().unwrap();
        assert!((gemm - 30.0).abs() < 1e-9, "{gemm}");
        let attention = &value["kernels"]["kinds"][1];
        assert_eq!(attention["kind"], "attention");
        assert!((attention["tflops_per_s"].as_f64().unwrap() - 10.0).abs() < 1e-9);
        let shares: f64 = value["kernels"]["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["share"].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-12);
    }
}
