//! `tauri::generate_context!()` embeds `frontendDist` (`../ui/dist`) at compile time and fails
//! when the folder is missing. On a checkout where the UI has not been built yet (a fresh
//! clone running `cargo test --workspace`), point `frontendDist` at a one-page placeholder in
//! `OUT_DIR` that says how to build the UI, so the workspace still compiles. `scripts/test.sh`
//! and `scripts/e2e.sh` build the UI first, so the real app is what they test.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ui = manifest.join("../ui");
    let dist_index = ui.join("dist/index.html");
    // Re-run when the UI gets built (or rebuilt): `ui/` changes when `dist/` appears.
    println!("cargo:rerun-if-changed={}", ui.display());
    println!("cargo:rerun-if-changed={}", dist_index.display());
    println!("cargo:rerun-if-env-changed=TAURI_CONFIG");
    if !dist_index.is_file() {
        let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui-missing");
        write_placeholder(&out);
        let patch = serde_json::json!({ "build": { "frontendDist": out } }).to_string();
        println!(
            "cargo:warning=ui/dist is missing: the app embeds a placeholder page; run `npm ci && npm run build` in ui/"
        );
        // Read by tauri-build below and, through rustc's environment, by `generate_context!`.
        std::env::set_var("TAURI_CONFIG", &patch);
        println!("cargo:rustc-env=TAURI_CONFIG={patch}");
    }
    tauri_build::build();
}

fn write_placeholder(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create placeholder dist");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Mixtune</title></head>\
         <body style=\"font-family:sans-serif;padding:2em\"><h1>Mixtune</h1>\
         <p data-testid=\"ui-missing\">This build has no user interface: run \
         <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>, then rebuild \
         <code>mixtune-app</code>.</p></body></html>",
    )
    .expect("write placeholder index.html");
}
