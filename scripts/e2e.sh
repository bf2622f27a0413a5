#!/usr/bin/env bash
# End-to-end test of the desktop app: builds ui/ and mixtune-app, then drives the real app
# binary under Xvfb through WebDriver (tauri-driver + WebKitWebDriver) with
# tests/e2e/run.mjs. No network: HF_HOME is an empty temp dir, the model is the tiny fixture.
# Screenshots of every page and measurements (cold start, idle RSS, binary size, chart
# updates/s) go to $MIXTUNE_E2E_ARTIFACTS (default target/e2e-artifacts/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mixtune-target}"
export CARGO_TERM_COLOR=never
ARTIFACTS="${MIXTUNE_E2E_ARTIFACTS:-$ROOT/target/e2e-artifacts}"
SHARED="${MIXTUNE_SHARED:-$ROOT/../shared}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "e2e: $1 not found: $2" >&2; exit 1; }; }
need node "install Node.js >= 18"
need xvfb-run "apt-get install xvfb xauth (scripts/setup.sh)"
need WebKitWebDriver "apt-get install webkit2gtk-driver (scripts/setup.sh)"
TAURI_DRIVER="${TAURI_DRIVER:-$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")}"
[ -x "$TAURI_DRIVER" ] || { echo "e2e: tauri-driver not found: cargo install tauri-driver --locked" >&2; exit 1; }
for path in "$SHARED/fixtures/tiny-flan/config.json" "$SHARED/data/dialogsum/dialogsum.dev.jsonl"; do
  [ -f "$path" ] || { echo "e2e: missing $path (the shared/ test material)" >&2; exit 1; }
done

echo "== e2e: build ui ($(date +%T))"
if [ "${MIXTUNE_E2E_SKIP_UI_BUILD:-0}" != "1" ]; then
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
fi
[ -f ui/dist/index.html ] || { echo "e2e: ui/dist/index.html missing after the UI build" >&2; exit 1; }

# MIXTUNE_E2E_APP: drive that binary (the installed or packaged app) instead of a debug build.
if [ -n "${MIXTUNE_E2E_APP:-}" ]; then
  APP="$MIXTUNE_E2E_APP"
  [ -x "$APP" ] || { echo "e2e: MIXTUNE_E2E_APP=$APP is not an executable" >&2; exit 1; }
  echo "== e2e: app $APP"
else
  echo "== e2e: build mixtune-app ($(date +%T))"
  cargo build -p mixtune-app
  APP="$CARGO_TARGET_DIR/debug/mixtune-app"
fi

WORK="$(mktemp -d -t mixtune-e2e.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/runs" "$WORK/hf-home" "$WORK/data" "$WORK/config" "$ARTIFACTS"
# A few dozen DialogSum rows (a split column is not present: the engine splits by seed).
head -n "${MIXTUNE_E2E_ROWS:-40}" "$SHARED/data/dialogsum/dialogsum.dev.jsonl" > "$WORK/data/dialogsum-e2e.jsonl"
# A CSV whose columns match no known schema, mapped by hand on the Datasets page.
printf 'question,answer\n"#Person1#: Where is my order? #Person2#: It ships today.",The order ships today.\n"#Person1#: Can I pay by card? #Person2#: Yes.",Card payment is fine.\n' > "$WORK/data/qa-e2e.csv"

export MIXTUNE_RUNS_DIR="$WORK/runs"
# What the app remembers between launches (app-state.json), away from the user's own.
export MIXTUNE_CONFIG_DIR="$WORK/config"
export HF_HOME="$WORK/hf-home"
export HF_HUB_OFFLINE=1
export MIXTUNE_EXTRA_MODELS="$(cd "$SHARED/fixtures/tiny-flan" && pwd)"
export MIXTUNE_TIMING=1
# WebKitGTK under Xvfb renders a blank window with compositing on.
export WEBKIT_DISABLE_COMPOSITING_MODE=1
# navigator.language comes from the locale; under LANG=C (CI containers) it is "C", which
# Intl rejects ("invalid language tag: C") and the UI fails to mount. Pin an English one.
unset LC_ALL
export LANG=en_US.UTF-8 LANGUAGE=en_US
export MIXTUNE_E2E_APP="$APP"
export MIXTUNE_E2E_DATA="$WORK/data/dialogsum-e2e.jsonl"
export MIXTUNE_E2E_QA="$WORK/data/qa-e2e.csv"
head -n 6 "$WORK/data/dialogsum-e2e.jsonl" > "$WORK/data/dropped-e2e.jsonl"
export MIXTUNE_E2E_DROPPED="$WORK/data/dropped-e2e.jsonl"
export MIXTUNE_E2E_ARTIFACTS="$ARTIFACTS"
export TAURI_DRIVER

echo "== e2e: run ($(date +%T)); artifacts in $ARTIFACTS"
xvfb-run -a -s "-screen 0 1440x960x24" node tests/e2e/run.mjs
