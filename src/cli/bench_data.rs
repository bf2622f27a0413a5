//! `mixtune bench data`: rows/s to load, render and tokenize DialogSum-shaped JSONL and
//! Parquet, single thread and all cores. Speed is measured here, never in a test.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{json, Value};

use mixtune::data::tokenizer::T5Tokenizer;
use mixtune::data::{LoadOptions, RecordReader};
use mixtune::mixture::template;

#[derive(Args, Debug)]
pub struct DataBench {
    /// DialogSum-shaped JSONL whose rows are repeated to make the benchmark files.
    #[arg(long, default_value = "../shared/data/dialogsum/dialogsum.dev.jsonl")]
    source: PathBuf,
    /// The T5 tokenizer.json.
    #[arg(long, default_value = "../shared/models/t5-tokenizer/tokenizer.json")]
    tokenizer: PathBuf,
    /// Rows in each benchmark file.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    /// Rows of the near-duplicate stage (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    near_dup_rows: usize,
    #[arg(long)]
    json: bool,
}

/// Source rows of the DialogSum file (dialogue, summary, topic, id).
fn source_rows(path: &Path) -> Result<Vec<[String; 4]>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        rows.push([
            text("dialogue"),
            text("summary"),
            text("topic"),
            text("fname"),
        ]);
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok(rows)
}

fn write_jsonl(path: &Path, rows: &[[String; 4]], count: usize) -> Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for i in 0..count {
        let [dialogue, summary, topic, id] = &rows[i % rows.len()];
        let line = json!({"fname": format!("{id}-{i}"), "dialogue": dialogue, "summary": summary, "topic": topic});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

fn write_parquet(path: &Path, rows: &[[String; 4]], count: usize) -> Result<()> {
    let names = ["dialogue", "summary", "topic", "fname"];
    let fields: String = names
        .iter()
        .map(|n| format!("REQUIRED BYTE_ARRAY {n} (UTF8);"))
        .collect();
    let schema = Arc::new(parse_message_type(&format!(
        "message schema {{ {fields} }}"
    ))?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(File::create(path)?, schema, properties)?;
    for start in (0..count).step_by(5000) {
        let end = (start + 5000).min(count);
        let mut group = writer.next_row_group()?;
        for (c, _) in names.iter().enumerate() {
            let mut column = group.next_column()?.context("parquet column")?;
            let values: Vec<ByteArray> = (start..end)
                .map(|i| {
                    let row = &rows[i % rows.len()];
                    if c == 3 {
                        ByteArray::from(format!("{}-{i}", row[3]).as_str())
                    } else {
                        ByteArray::from(row[c].as_str())
                    }
                })
                .collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)?;
            column.close()?;
        }
        group.close()?;
    }
    writer.close()?;
    Ok(())
}

/// Rows/s of one stage over a whole file.
struct Stage {
    name: &'static str,
    rows_per_s: f64,
}

fn bench_file(path: &Path, tokenizer: &T5Tokenizer) -> Result<Vec<Stage>> {
    let templates = template::load_builtin("dialogue_summary.toml")?;
    let phrasings = templates.phrasings.len();
    let options = LoadOptions::default();
    let timed = |f: &mut dyn FnMut() -> Result<usize>| -> Result<f64> {
        let start = Instant::now();
        let rows = f()?;
        Ok(rows as f64 / start.elapsed().as_secs_f64())
    };
    let load = timed(&mut || {
        Ok(RecordReader::open(path, &options)?.try_fold(0, |n, r| r.map(|_| n + 1))?)
    })?;
    let mut rendered: Vec<(String, String)> = Vec::new();
    let render = timed(&mut || {
        rendered.clear();
        for (i, record) in RecordReader::open(path, &options)?.enumerate() {
            let record = record?;
            let fields: BTreeMap<String, String> = record.fields;
            rendered.push(templates.render(&fields, i % phrasings, &record.id)?);
        }
        Ok(rendered.len())
    })?;
    let single = timed(&mut || {
        let mut tokens = 0usize;
        for (source, target) in &rendered {
            tokens += tokenizer.encode(source)?.len() + tokenizer.encode(target)?.len();
        }
        std::hint::black_box(tokens);
        Ok(rendered.len())
    })?;
    let parallel = timed(&mut || {
        for chunk in rendered.chunks(2048) {
            let sources: Vec<String> = chunk.iter().map(|(s, _)| s.clone()).collect();
            let targets: Vec<String> = chunk.iter().map(|(_, t)| t.clone()).collect();
            std::hint::black_box(tokenizer.encode_batch(&sources)?);
            std::hint::black_box(tokenizer.encode_batch(&targets)?);
        }
        Ok(rendered.len())
    })?;
    let end_to_end = 1.0 / (1.0 / render + 1.0 / parallel);
    Ok(vec![
        Stage {
            name: "load",
            rows_per_s: load,
        },
        Stage {
            name: "load+render",
            rows_per_s: render,
        },
        Stage {
            name: "tokenize, 1 thread",
            rows_per_s: single,
        },
        Stage {
            name: "tokenize, all cores",
            rows_per_s: parallel,
        },
        Stage {
            name: "load+render+tokenize (all cores)",
            rows_per_s: end_to_end,
        },
    ])
}

pub fn bench_data(args: DataBench) -> Result<()> {
    let rows = source_rows(&args.source)?;
    let tokenizer = T5Tokenizer::from_file(&args.tokenizer)?;
    let dir = tempfile::tempdir()?;
    let jsonl = dir.path().join("bench.jsonl");
    let parquet = dir.path().join("bench.parquet");
    write_jsonl(&jsonl, &rows, args.rows)?;
    write_parquet(&parquet, &rows, args.rows)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut report = Vec::new();
    if !args.json {
        println!(
            "{} DialogSum-shaped rows per file, {cores} cores",
            args.rows
        );
        println!("{:<8} {:<34} {:>12}", "format", "stage", "rows/s");
    }
    for (format, path) in [("jsonl", &jsonl), ("parquet", &parquet)] {
        for stage in bench_file(path, &tokenizer)? {
            if !args.json {
                println!("{format:<8} {:<34} {:>12.0}", stage.name, stage.rows_per_s);
            }
            report.push(
                json!({"format": format, "stage": stage.name, "rows_per_s": stage.rows_per_s}),
            );
        }
    }
    let dialogues: Vec<String> = rows.iter().map(|row| row[0].clone()).collect();
    let near_dups = (args.near_dup_rows > 0)
        .then(|| super::bench_near_dup::bench_near_dups(&dialogues, args.near_dup_rows, args.json))
        .transpose()?;
    if args.json {
        println!(
            "{}",
            json!({"rows": args.rows, "cores": cores, "results": report, "near_duplicates": near_dups})
        );
    } else {
        println!("a training step of flan-t5-base at batch 8 consumes 8 rows: data preparation is far from the bottleneck at these rates");
    }
    Ok(())
}
