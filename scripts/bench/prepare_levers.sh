#!/usr/bin/env bash
# Lays out `.carry/` for scripts/bench/gpu_levers.sh: ../shared/bench/prepare_device.sh with
# the WGSL release binary (the Vulkan loader debs, HF's script), plus the `vulkan` (SPIR-V)
# release binary, stripped and xz-compressed. Builds whichever binary is missing (each a
# release build of the GPU stack: tens of minutes cold on 2 cores). The two builds use
# separate target folders so neither rebuilds the other.
# Usage: scripts/bench/prepare_levers.sh [WGSL_BINARY [VULKAN_BINARY]]
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}
wgsl=${1:-$target/release/mixtune-gpu}
vulkan=${2:-$target/vulkan/release/mixtune}
if [ ! -x "$wgsl" ]; then
  cargo build --release --features gpu-cache --bin mixtune
  cp "$target/release/mixtune" "$wgsl"
fi
if [ ! -x "$vulkan" ]; then
  CARGO_TARGET_DIR="$target/vulkan" cargo build --release --features gpu-cache,vulkan --bin mixtune
fi
../shared/bench/prepare_device.sh "$wgsl"
strip -o .carry/mixtune-vulkan "$vulkan"
xz -T0 -6 .carry/mixtune-vulkan
du -sh .carry/*
