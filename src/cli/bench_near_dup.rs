//! The near-duplicate stage of `mixtune bench data`: a DialogSum-shaped file of distinct
//! rows (dialogues recombined from the source's turns) with a known number of planted near
//! copies, checked train split ~ test split as `data inspect` does. Timed here, never in a
//! test.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Value};

use mixtune::data::near_dup::DEFAULT_THRESHOLD;
use mixtune::data::near_dup_files::{FileNearDups, SIDE_A, SIDE_B};
use mixtune::data::split::splitmix64;
use mixtune::data::{LoadOptions, RecordReader, Split};

/// Rows in the test split (the last tenth); every 100th of them is a planted near copy.
const PLANT_EVERY: usize = 100;

/// Writes `count` rows: the first 90% train, the rest test; test row `k` with
/// `k % PLANT_EVERY == 0` is train row `k` with one word changed. Returns the planted count.
fn write_rows(path: &Path, dialogues: &[String], count: usize) -> Result<usize> {
    let turns: Vec<&str> = dialogues.iter().flat_map(|d| d.lines()).collect();
    let train = count * 9 / 10;
    let dialogue_of = |i: usize| -> String {
        let mut state = splitmix64(i as u64 ^ 0xBE7C);
        let length = 8 + (state % 7) as usize;
        (0..length)
            .map(|_| {
                state = splitmix64(state);
                turns[(state % turns.len() as u64) as usize]
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = BufWriter::new(File::create(path)?);
    let mut planted = 0;
    for i in 0..count {
        let (split, dialogue) = if i < train {
            ("train", dialogue_of(i))
        } else if (i - train).is_multiple_of(PLANT_EVERY) && i - train < train {
            planted += 1;
            let mut words: Vec<String> = dialogue_of(i - train)
                .split(' ')
                .map(str::to_string)
                .collect();
            let middle = words.len() / 2;
            words[middle] = "planted".into();
            ("test", words.join(" "))
        } else {
            ("test", dialogue_of(i))
        };
        let row =
            json!({"id": format!("row-{i}"), "split": split, "dialogue": dialogue, "summary": "s"});
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(planted)
}

/// Times the check on `count` rows built from `dialogues`; prints a line or returns JSON.
pub fn bench_near_dups(dialogues: &[String], count: usize, json: bool) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("near-dup.jsonl");
    let planted = write_rows(&path, dialogues, count)?;
    let options = LoadOptions::default();
    let start = Instant::now();
    let loaded = RecordReader::open(&path, &options)?.try_fold(0usize, |n, r| r.map(|_| n + 1))?;
    let load_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut check = FileNearDups::new(DEFAULT_THRESHOLD)?;
    let file = check.file(path.clone(), options.clone());
    for record in RecordReader::open(&path, &options)? {
        let record = record?;
        let side = if record.split == Split::Train {
            SIDE_A
        } else {
            SIDE_B
        };
        check.push(file, side, &record);
    }
    let report = check.finish("train split ~ test split".into())?;
    let check_s = start.elapsed().as_secs_f64();
    if !json {
        println!(
            "\nnear duplicates, {loaded} rows ({} train ~ {} test, Jaccard ≥ {}): {check_s:.2} s with reading ({load_s:.2} s to read alone); {} candidates, {} pairs found, {planted} planted",
            report.rows_a, report.rows_b, report.threshold, report.candidates, report.pairs_found
        );
    }
    Ok(json!({
        "rows": loaded,
        "seconds": check_s,
        "read_seconds": load_s,
        "candidates": report.candidates,
        "pairs_found": report.pairs_found,
        "planted": planted,
    }))
}
