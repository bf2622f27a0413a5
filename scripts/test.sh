#!/usr/bin/env bash
# The test command: formatting, lints, the whole test suite on Burn's `flex` CPU backend,
# and the GPU build (wgpu) with its parity test, which runs on a Vulkan device when one
# exists (lavapipe counts) and otherwise prints why it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# A target dir outside the checkout, so fresh clones reuse earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
export CARGO_TERM_COLOR=never

step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "rustfmt"
cargo fmt --all -- --check

step "tests on flex (CPU)"
cargo test --workspace --all-targets

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

if [ "${MIXTUNE_SKIP_GPU:-0}" != "1" ]; then
  step "GPU build (wgpu) and its parity test"
  cargo test --features wgpu --test gpu_parity -- --nocapture
fi
step "done"
