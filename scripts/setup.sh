#!/usr/bin/env bash
# One-time set-up: system packages (Debian/Ubuntu), then a release build of the `mixtune`
# CLI with GPU support (wgpu: Vulkan / Metal / DX12), installed into ~/.cargo/bin.
# MIXTUNE_CPU_ONLY=1 skips the GPU backend (a much shorter build).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # gcc/pkg-config for crates with C parts; the Vulkan loader and Mesa's drivers (lavapipe
  # included) so wgpu finds a device even on machines without a GPU driver.
  # Desktop app (Tauri 2 on WebKitGTK) and its E2E test: GTK/WebKit headers, Xvfb, the
  # WebKit WebDriver; Node.js/npm build ui/.
  PACKAGES="build-essential pkg-config libvulkan1 mesa-vulkan-drivers
    libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
    libsoup-3.0-dev libjavascriptcoregtk-4.1-dev xvfb xauth webkit2gtk-driver"
  command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
  MISSING=""
  for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || MISSING="$MISSING $package"
  done
  if [ -n "$MISSING" ]; then
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq $MISSING
  fi
fi

command -v cargo >/dev/null || { echo "error: Rust is needed: https://rustup.rs" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
if [ "${MIXTUNE_CPU_ONLY:-0}" = "1" ]; then
  cargo install --locked --path . --root "$HOME/.cargo"
else
  # wgpu + fusion + autotune, with the on-disk cache of tuned kernels.
  cargo install --locked --path . --root "$HOME/.cargo" --features gpu-cache
fi
echo "installed: $(command -v mixtune || echo "$HOME/.cargo/bin/mixtune")"

# Desktop app: the web front end's packages, and tauri-driver for the E2E test.
if command -v npm >/dev/null 2>&1; then
  (cd ui && npm ci --no-audit --no-fund)
fi
command -v tauri-driver >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/tauri-driver" ] \
  || cargo install tauri-driver --locked

