//! Hub ids resolve through the HF cache and download from `HF_ENDPOINT`: here a loopback
//! HTTP server that serves the tiny fixture model. Nothing leaves this machine.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{reference_json, tiny_flan};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Serves `root/<file>` for `GET /<org>/<name>/resolve/main/<file>` with HF's headers
/// (etag, x-repo-commit, content-range), honouring `Range`. Counts requests.
fn serve(root: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = respond(stream, &root);
        }
    });
    (url, count)
}

fn respond(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut range_start = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range: bytes=") {
            range_start = range
                .trim()
                .split('-')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let file = path.rsplit("/resolve/main/").next().unwrap_or("");
    let Ok(bytes) = std::fs::read(root.join(file)) else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    let body = &bytes[range_start.min(bytes.len())..];
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\netag: \"etag-{file}-{}\"\r\nx-repo-commit: {COMMIT}\r\ncontent-range: bytes {range_start}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len(),
        bytes.len().saturating_sub(1),
        bytes.len(),
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fn mixtune(endpoint: &str, hf_home: &Path, model: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mixtune"))
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", hf_home)
        .env_remove("HF_TOKEN")
        .args([
            "generate",
            "--device",
            "cpu",
            "--json",
            "--max-new-tokens",
            "24",
            "--model",
            model,
            "--prompt",
        ])
        .arg(reference_json()["prompts"][2].as_str().unwrap())
        .output()
        .unwrap()
}

#[test]
fn hub_id_downloads_into_hf_home_then_loads_from_cache() {
    let (endpoint, requests) = serve(tiny_flan());
    let home = tempfile::tempdir().unwrap();
    let out = mixtune(&endpoint, home.path(), "tiny-org/tiny-flan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "download failed: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["token_ids"], reference_json()["generate"][2]["greedy"]);
    let snapshot = home
        .path()
        .join("hub/models--tiny-org--tiny-flan/snapshots")
        .join(COMMIT);
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let cached = std::fs::read(snapshot.join(file)).unwrap();
        assert_eq!(
            cached,
            std::fs::read(tiny_flan().join(file)).unwrap(),
            "{file} differs"
        );
    }
    // Second run: served from the cache without any request.
    let before = requests.load(Ordering::SeqCst);
    let again = mixtune("http://127.0.0.1:9", home.path(), "tiny-org/tiny-flan");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(requests.load(Ordering::SeqCst), before);
}

#[test]
fn unreachable_hub_is_one_clear_error() {
    let home = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: connection refused, nothing leaves the machine.
    let out = mixtune("http://127.0.0.1:9", home.path(), "google/flan-t5-base");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("google/flan-t5-base")
            && stderr.contains("config.json")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn missing_repo_file_is_named() {
    let (endpoint, _) = serve(PathBuf::from("/nonexistent-root"));
    let home = tempfile::tempdir().unwrap();
    let out = mixtune(&endpoint, home.path(), "tiny-org/absent");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tiny-org/absent") && stderr.contains("config.json"),
        "{stderr}"
    );
}
