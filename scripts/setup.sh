#!/usr/bin/env bash
# One-time set-up: system packages (Debian/Ubuntu), then a release build of the `mixtune`
# CLI with GPU support (wgpu: Vulkan / Metal / DX12), installed into ~/.cargo/bin.
# MIXTUNE_CPU_ONLY=1 skips the GPU backend (a much shorter build).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # gcc/pkg-config for crates with C parts; the Vulkan loader and Mesa's drivers (lavapipe
  # included) so wgpu finds a device even on machines without a GPU driver.
  $SUDO apt-get install -y -qq build-essential pkg-config libvulkan1 mesa-vulkan-drivers
fi

command -v cargo >/dev/null || { echo "error: Rust is needed: https://rustup.rs" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
if [ "${MIXTUNE_CPU_ONLY:-0}" = "1" ]; then
  cargo install --locked --path . --root "$HOME/.cargo"
else
  cargo install --locked --path . --root "$HOME/.cargo" --features wgpu
fi
echo "installed: $(command -v mixtune || echo "$HOME/.cargo/bin/mixtune")"
