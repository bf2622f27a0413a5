#!/usr/bin/env bash
# One-time set-up: system packages (Debian/Ubuntu), then release builds of the `mixtune`
# CLI and the `mixtune-app` desktop app with GPU support (wgpu: Vulkan / Metal / DX12),
# installed into ~/.cargo/bin, with a desktop-menu entry and icon for the app.
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
GPU=1
[ "${MIXTUNE_CPU_ONLY:-0}" = "1" ] && GPU=0
BIN="$HOME/.cargo/bin"
mkdir -p "$BIN"
# The desktop app embeds the web front end (ui/dist) at compile time: build it first. The CLI
# and the app then come out of one release build (one set of dependencies for both).
if command -v npm >/dev/null 2>&1; then
  (cd ui && npm ci --no-audit --no-fund && npm run build)
  CRATES=(-p mixtune -p mixtune-app)
  # wgpu + fusion + autotune, with the on-disk cache of tuned kernels.
  FEATURES="mixtune/gpu-cache mixtune-app/gpu-cache"
else
  echo "note: npm not found: only the CLI is built (install Node.js >= 20 for the desktop app)"
  CRATES=(-p mixtune)
  FEATURES="mixtune/gpu-cache"
fi
[ "$GPU" = "1" ] || FEATURES=""
cargo build --release --locked "${CRATES[@]}" --features "$FEATURES"
install -m755 "$CARGO_TARGET_DIR/release/mixtune" "$BIN/mixtune"
echo "installed: $BIN/mixtune"
if [ -x "$CARGO_TARGET_DIR/release/mixtune-app" ] && [ "${#CRATES[@]}" -gt 2 ]; then
  install -m755 "$CARGO_TARGET_DIR/release/mixtune-app" "$BIN/mixtune-app"
  DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
  install -Dm644 src-tauri/icons/icon.png "$DATA/icons/hicolor/128x128/apps/mixtune.png"
  mkdir -p "$DATA/applications"
  cat > "$DATA/applications/mixtune.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Mixtune
Comment=Fine-tune and run T5 / Flan-T5 on task mixtures
Exec=$BIN/mixtune-app
Icon=mixtune
Terminal=false
Categories=Development;Science;
DESKTOP
  command -v update-desktop-database >/dev/null 2>&1 \
    && update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true
  echo "installed: $BIN/mixtune-app (menu entry: $DATA/applications/mixtune.desktop)"
fi

# The desktop E2E test's driver.
command -v tauri-driver >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/tauri-driver" ] \
  || cargo install tauri-driver --locked


# On a hardware GPU, compile and tune the kernels of Flan-T5 small and base training and
# generation ahead (batch 8, every length bucket up to 512/128 tokens, f32; generations at batch
# 1 and 8), so a first run's first step, and a first summary, do not
# spend a minute or more on it: minutes, once (`mixtune prepare-gpu`; without a hardware GPU it
# only says there is nothing to prepare). MIXTUNE_PREPARE_GPU=0 skips it.
if [ "$GPU" = "1" ] && [ "${MIXTUNE_PREPARE_GPU:-1}" != "0" ]; then
  echo "preparing GPU kernels for Flan-T5 small and base (MIXTUNE_PREPARE_GPU=0 skips this)"
  "$BIN/mixtune" prepare-gpu --shapes both \
    || echo "note: preparing GPU kernels failed (above); runs prepare them on first use instead"
fi
