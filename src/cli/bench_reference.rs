//! The reference column of `mixtune bench`: figures measured by
//! `../shared/bench/hf_same_work.py` (HF transformers + PyTorch, eager), read from the JSON
//! file it prints. Without one, benches print no reference and no ratio: a ratio means
//! something only against the same card, measured in the same session.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// The last JSON object of a script's output that reads as `T`. The scripts print progress
/// on stderr, so a file captured with `2>&1` has other lines first; the object itself is one
/// line (`hf_same_work.py`) or indented over several (`ct2_cpu_same_work.py`). Tried from
/// the end: each line that opens an object alone, then with the lines after it.
fn last_object<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    let lines: Vec<&str> = text.lines().collect();
    (0..lines.len())
        .rev()
        .filter(|&start| lines[start].trim_start().starts_with('{'))
        .find_map(|start| {
            serde_json::from_str(lines[start].trim())
                .or_else(|_| serde_json::from_str(&lines[start..].join("\n")))
                .ok()
        })
}

/// What `hf_same_work.py` prints.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// The card it ran on (`torch.cuda.get_device_name()`).
    pub device: String,
    #[serde(default)]
    pub torch: String,
    pub results: Vec<ReferenceRow>,
}

/// One timing of the reference run.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceRow {
    /// `generate` or `train`.
    pub job: String,
    /// `small` or `base`.
    pub shapes: String,
    /// `fp32`, `bf16` or `bf16-autocast`.
    pub dtype: String,
    pub batch: usize,
    /// Generation: median milliseconds for the whole call.
    #[serde(default)]
    pub median_ms: Option<f64>,
    /// Training: tokens (source + target) per second and peak memory.
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    #[serde(default)]
    pub peak_gib: Option<f64>,
}

impl Reference {
    /// Reads `path`; errors name the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the reference {}", path.display()))?;
        last_object::<Reference>(&text).with_context(|| {
            format!(
                "{}: not the output of hf_same_work.py (a JSON object with `device` and `results`)",
                path.display()
            )
        })
    }

    /// [`Reference::load`], refused when it was measured on the other kind of device than
    /// the bench runs on (a CPU reference for a GPU bench, or the reverse): that ratio would
    /// compare machines, not implementations.
    pub fn load_for(path: &Path, device: &burn::tensor::Device) -> Result<Self> {
        let reference = Self::load(path)?;
        let bench_on_cpu = mixtune::device::is_cpu(device);
        anyhow::ensure!(
            reference.is_cpu() == bench_on_cpu,
            "{}: measured on `{}`, but this bench runs on the {}: use a reference from {} on              this machine",
            path.display(),
            reference.device,
            if bench_on_cpu { "CPU" } else { "GPU" },
            if bench_on_cpu {
                "scripts/bench/hf_same_work_cpu.py"
            } else {
                "../shared/bench/hf_same_work.py"
            }
        );
        Ok(reference)
    }

    /// Whether the reference ran on a CPU (`hf_same_work_cpu.py` names its device `cpu: …`).
    pub fn is_cpu(&self) -> bool {
        self.device.to_lowercase().starts_with("cpu")
    }

    /// The row for `job` on `shapes` at `batch` in `dtype`.
    pub fn find(
        &self,
        job: &str,
        shapes: &str,
        dtype: &str,
        batch: usize,
    ) -> Option<&ReferenceRow> {
        self.results
            .iter()
            .find(|r| r.job == job && r.shapes == shapes && r.dtype == dtype && r.batch == batch)
    }

    /// A line naming the reference run.
    pub fn describe(&self) -> String {
        format!(
            "reference: HF transformers (PyTorch {}, eager) on {}",
            if self.torch.is_empty() {
                "?"
            } else {
                &self.torch
            },
            self.device
        )
    }
}

/// What `../shared/bench/ct2_cpu_same_work.py` prints: CTranslate2 on the CPU, on the work
/// `bench generate --device cpu` times, in float32 and int8.
#[derive(Debug, Clone, Deserialize)]
pub struct Ct2Reference {
    /// `ctranslate2 4.x`.
    pub engine: String,
    #[serde(default)]
    pub threads: usize,
    pub results: Vec<Ct2Row>,
}

/// One timing of the CTranslate2 run.
#[derive(Debug, Clone, Deserialize)]
pub struct Ct2Row {
    /// `small` or `base`.
    pub shape: String,
    pub batch: usize,
    /// `float32` or `int8`.
    pub compute_type: String,
    pub median_ms: f64,
}

impl Ct2Reference {
    /// Reads `path` (the last line that parses, as [`Reference::load`]); errors name the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the CTranslate2 reference {}", path.display()))?;
        last_object::<Ct2Reference>(&text).with_context(|| {
                format!(
                    "{}: not the output of ct2_cpu_same_work.py (a JSON object with `engine` and `results`)",
                    path.display()
                )
            })
    }

    /// Median milliseconds for `shape` at `batch` in `compute_type` (`float32`, `int8`).
    pub fn find(&self, shape: &str, batch: usize, compute_type: &str) -> Option<f64> {
        self.results
            .iter()
            .find(|r| r.shape == shape && r.batch == batch && r.compute_type == compute_type)
            .map(|r| r.median_ms)
    }

    /// A line naming the reference run.
    pub fn describe(&self) -> String {
        format!("reference: {} on {} threads", self.engine, self.threads)
    }
}

/// One line of `../shared/bench/torch_cpu_train.py`: a PyTorch fp32 training step on the
/// CPU, on the work `bench train --device cpu` times (one shape and batch per run; several
/// runs' lines may be collected in one file).
#[derive(Debug, Clone, Deserialize)]
pub struct TorchTrainRow {
    /// `torch 2.x`.
    pub engine: String,
    #[serde(default)]
    pub threads: usize,
    pub shape: String,
    pub batch: usize,
    pub source_len: usize,
    pub target_len: usize,
    pub tokens_per_s: f64,
}

/// The lines of one or more `torch_cpu_train.py` runs.
#[derive(Debug, Clone)]
pub struct TorchTrainReference {
    pub rows: Vec<TorchTrainRow>,
}

impl TorchTrainReference {
    /// Reads every line of `path` that is a `torch_cpu_train.py` result; none is an error
    /// naming the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the PyTorch reference {}", path.display()))?;
        let rows: Vec<TorchTrainRow> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line.trim()).ok())
            .collect();
        anyhow::ensure!(
            !rows.is_empty(),
            "{}: no line of torch_cpu_train.py output (a JSON object with `engine`, `shape`, `tokens_per_s`)",
            path.display()
        );
        Ok(Self { rows })
    }

    /// The run on the same work: shape, batch and lengths.
    pub fn find(
        &self,
        shape: &str,
        batch: usize,
        source_len: usize,
        target_len: usize,
    ) -> Option<&TorchTrainRow> {
        self.rows.iter().find(|r| {
            r.shape == shape
                && r.batch == batch
                && r.source_len == source_len
                && r.target_len == target_len
        })
    }
}

/// The end of a bench: with `--json` the one JSON object (device, reference device, rows);
/// otherwise a hint when no reference was given.
pub fn print_end(
    json: bool,
    device: &str,
    reference: Option<&Reference>,
    rows: Vec<serde_json::Value>,
) {
    if json {
        let reference_device = reference.map(|r| r.device.clone());
        println!(
            "{}",
            serde_json::json!({"device": device, "reference_device": reference_device, "results": rows})
        );
    } else if reference.is_none() {
        println!(
            "no reference: pass --reference hf.json from ../shared/bench/hf_same_work.py run on \
             this card (on the CPU: scripts/bench/hf_same_work_cpu.py on this machine)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_script_output_and_finds_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hf.json");
        std::fs::write(
            &path,
            "{\"job\": \"generate\"}\n{\"device\": \"NVIDIA H200\", \"torch\": \"2.11\", \"results\": [\
             {\"job\": \"generate\", \"shapes\": \"base\", \"dtype\": \"fp32\", \"batch\": 1, \"median_ms\": 705.0},\
             {\"job\": \"train\", \"shapes\": \"base\", \"dtype\": \"fp32\", \"batch\": 8, \"median_step_ms\": 139.0, \"tokens_per_s\": 36900.0, \"peak_gib\": 11.4}]}\n",
        )
        .unwrap();
        let reference = Reference::load(&path).unwrap();
        assert_eq!(reference.device, "NVIDIA H200");
        let row = reference.find("generate", "base", "fp32", 1).unwrap();
        assert_eq!(row.median_ms, Some(705.0));
        assert_eq!(
            reference
                .find("train", "base", "fp32", 8)
                .unwrap()
                .tokens_per_s,
            Some(36900.0)
        );
        assert!(reference.find("generate", "small", "fp32", 1).is_none());
        assert!(!reference.is_cpu());
        assert!(Reference::load_for(&path, &burn::tensor::Device::flex())
            .unwrap_err()
            .to_string()
            .contains("hf_same_work_cpu.py"));
        std::fs::write(
            &path,
            "{\"device\": \"cpu: AMD EPYC (2 threads)\", \"results\": []}",
        )
        .unwrap();
        assert!(Reference::load_for(&path, &burn::tensor::Device::flex())
            .unwrap()
            .is_cpu());
        std::fs::write(&path, "not json").unwrap();
        let error = Reference::load(&path).unwrap_err().to_string();
        assert!(error.contains("hf.json"), "{error}");
    }

    #[test]
    fn reads_the_pytorch_training_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("torch.json");
        std::fs::write(
            &path,
            "{\"engine\": \"torch 2.11\", \"threads\": 2, \"shape\": \"small\", \"batch\": 4, \"source_len\": 256, \"target_len\": 64, \"median_step_ms\": 2115.7, \"tokens_per_s\": 605.0}\n\
             a warning line\n\
             {\"engine\": \"torch 2.11\", \"threads\": 2, \"shape\": \"base\", \"batch\": 4, \"source_len\": 256, \"target_len\": 64, \"tokens_per_s\": 190.0}\n",
        )
        .unwrap();
        let torch = TorchTrainReference::load(&path).unwrap();
        assert_eq!(torch.rows.len(), 2);
        assert_eq!(torch.find("small", 4, 256, 64).unwrap().tokens_per_s, 605.0);
        assert!(torch.find("small", 8, 256, 64).is_none());
        std::fs::write(&path, "nothing here").unwrap();
        assert!(TorchTrainReference::load(&path)
            .unwrap_err()
            .to_string()
            .contains("torch_cpu_train.py"));
    }

    #[test]
    fn reads_the_ctranslate2_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ct2.json");
        // Progress rows on stderr captured with 2>&1, then the indented object.
        std::fs::write(
            &path,
            "{\"shape\": \"small\", \"batch\": 1}\n{\n \"engine\": \"ctranslate2 4.6.0\",\n \"threads\": 2,\n \"results\": [\n  {\"shape\": \"base\", \"batch\": 8, \"compute_type\": \"int8\", \"median_ms\": 3058.0, \"all_ms\": [3058.0], \"new_tokens\": 64},\n  {\"shape\": \"base\", \"batch\": 8, \"compute_type\": \"float32\", \"median_ms\": 5058.0, \"all_ms\": [5058.0], \"new_tokens\": 64}\n ]\n}\n",
        )
        .unwrap();
        let ct2 = Ct2Reference::load(&path).unwrap();
        assert_eq!(ct2.find("base", 8, "float32"), Some(5058.0));
        assert_eq!(ct2.find("base", 8, "int8"), Some(3058.0));
        assert_eq!(ct2.find("small", 8, "int8"), None);
        assert!(ct2.describe().contains("ctranslate2 4.6.0 on 2 threads"));
        std::fs::write(&path, "{}").unwrap();
        let error = Ct2Reference::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("ct2.json") && error.contains("ct2_cpu_same_work.py"),
            "{error}"
        );
    }
}
