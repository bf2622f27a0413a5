#!/usr/bin/env bash
# Builds the desktop app's package with `tauri build` (the Tauri CLI from npm, a prebuilt
# binary in ui/node_modules; `cargo tauri` where it is installed instead): a .deb here. Then
# checks that the .deb holds the binary, the menu entry and the icon, unpacks it and runs the
# desktop E2E test against the packaged binary under Xvfb.
# By default a release build with the GPU backend (long: the shipped package).
# MIXTUNE_CPU_ONLY=1 packages the CPU-only app; MIXTUNE_PACKAGE_DEBUG=1 packages a debug build
# (what scripts/test.sh does: it reuses the test build, so it fits CI's budget).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
export CARGO_TERM_COLOR=never
(cd ui && { [ -x node_modules/.bin/tauri ] || npm ci --no-audit --no-fund; })
if [ -x ui/node_modules/.bin/tauri ]; then
  TAURI=("$PWD/ui/node_modules/.bin/tauri")
elif command -v cargo-tauri >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-tauri" ]; then
  TAURI=(cargo tauri)
else
  echo "package: no Tauri CLI: run (cd ui && npm ci), or cargo install tauri-cli --locked" >&2
  exit 1
fi
ARGS=(--ci --bundles deb)
PROFILE=release
if [ "${MIXTUNE_PACKAGE_DEBUG:-0}" = "1" ]; then
  ARGS+=(--debug)
  PROFILE=debug
fi
[ "${MIXTUNE_CPU_ONLY:-0}" = "1" ] || ARGS+=(--features gpu-cache)
BUNDLE_DIR="$CARGO_TARGET_DIR/$PROFILE/bundle/deb"
rm -f "$BUNDLE_DIR"/*.deb

echo "== package: tauri build ${ARGS[*]} ($(date +%T))"
(cd src-tauri && "${TAURI[@]}" build "${ARGS[@]}")
DEB="$(ls -t "$BUNDLE_DIR"/*.deb 2>/dev/null | head -n 1)"
[ -n "$DEB" ] || { echo "package: tauri build left no .deb in $BUNDLE_DIR" >&2; exit 1; }
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
dpkg-deb -f "$DEB" Package Version Depends

echo "== package: the packaged app under Xvfb"
ROOT="$(mktemp -d -t mixtune-deb.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
dpkg-deb -x "$DEB" "$ROOT"
MIXTUNE_E2E_APP="$ROOT/usr/bin/mixtune-app" MIXTUNE_E2E_SKIP_UI_BUILD=1 \
  MIXTUNE_E2E_ARTIFACTS="${MIXTUNE_E2E_ARTIFACTS:-$PWD/target/e2e-package}" scripts/e2e.sh
echo "== package: done ($(date +%T))"
