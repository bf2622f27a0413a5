#!/usr/bin/env bash
# Builds the desktop app's packages with `cargo tauri build` (tauri-cli from crates.io; a
# .deb here), checks that the .deb holds the binary, the menu entry and the icon, unpacks it
# and runs the desktop E2E test against the packaged binary under Xvfb.
# Long (a release build of the app with the GPU backend), so not part of scripts/test.sh.
# MIXTUNE_CPU_ONLY=1 packages the CPU-only app.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
command -v cargo-tauri >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-tauri" ] \
  || cargo install tauri-cli --locked
FEATURES=(--features gpu-cache)
[ "${MIXTUNE_CPU_ONLY:-0}" = "1" ] && FEATURES=()
(cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; })

echo "== package: cargo tauri build ($(date +%T))"
(cd src-tauri && cargo tauri build --ci "${FEATURES[@]}")
DEB="$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -n 1)"
echo "== package: $DEB ($(du -h "$DEB" | cut -f1))"

echo "== package: contents"
CONTENTS="$(dpkg-deb -c "$DEB")"
for expected in "usr/bin/mixtune-app" "usr/share/applications/.*\.desktop" "usr/share/icons/hicolor/.*\.png"; do
  if ! grep -Eq " (\./)?$expected\$" <<<"$CONTENTS"; then
    echo "package: $DEB lacks $expected" >&2
    echo "$CONTENTS" >&2
    exit 1
  fi
  grep -E " (\./)?$expected\$" <<<"$CONTENTS"
done

echo "== package: the packaged app under Xvfb"
ROOT="$(mktemp -d -t mixtune-deb.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
dpkg-deb -x "$DEB" "$ROOT"
MIXTUNE_E2E_APP="$ROOT/usr/bin/mixtune-app" MIXTUNE_E2E_SKIP_UI_BUILD=1 \
  MIXTUNE_E2E_ARTIFACTS="${MIXTUNE_E2E_ARTIFACTS:-$PWD/target/e2e-package}" scripts/e2e.sh
echo "== package: done ($(date +%T))"
