#!/bin/bash
# One prepared device call that measures the GPU training levers of issue #24 side by side:
# the WGSL build and the `vulkan` (SPIR-V) build, f32 and f16, against HF's same work, every
# result in $OUT. Prepare `.carry/` first, on this machine:
#
#   scripts/bench/prepare_levers.sh            # release builds of both binaries + the debs
#
# then ONE device call: command `bash scripts/bench/gpu_levers.sh [STEP ...]`, carry
# [".carry"]. A STEP is `NAME=BINARY:ARGS` (BINARY `wgsl` or `spirv`; ARGS for `mixtune`,
# word-split, after any leading `VAR=VALUE` words, which go to its environment). Each step
# has 200 s (`bench gemm` and `bench attention` 90 s). Without STEPs the first call's list
# runs (HF ~160 s;
# `bench gemm`: each base product in Burn's f32 and f16, in f32 by `tiled_matmul.wgsl` and
# on the cooperative matrices (both kernels), TFLOP/s, and the kernel training picks for it
# (measured: `kernels::product_choice`, kept in the kernel cache's `product-choices.json`,
# which the next steps reuse and $OUT/kernels/ gets); WGSL f16 base, its linear layers on
# the kernels picked; WGSL f32 small and base with the profile, last, as the step a
# slow machine may lose: 12-04 measured it);
# `MIXTUNE_LEVERS=2` picks the second call's list instead, in order of what it decides
# (WGSL f32 small with `MIXTUNE_F32_GEMM=0`, Burn's matmul alone as before 12-07, against the
# first call's `wgsl-f32`, which picked per product; with `MIXTUNE_F32_GEMM=1`, every product
# it fits by `tiled_matmul.wgsl`; WGSL f16 base with `MIXTUNE_COOP_STAGED=1`, the staged
# cooperative-matrix GEMM wherever it fits, against the first call's `wgsl-f16`; `bench attention`: base's three
# attentions forward + backward at batch 8 through the tensor ops, the scalar kernels and the
# cooperative-matrix ones, f32 and f16; WGSL f16 base with `MIXTUNE_COOP_ATTENTION=0`, the
# scalar attention kernels, with `MIXTUNE_COOP_MATMUL=0`, Burn's f16 GEMMs, with
# `MIXTUNE_COOP_WO=0`, `wo` in f32 as before, and with `MIXTUNE_FUSION_MAX_BLOCKS=5`, Burn's
# default fusion search (Mixtune sets 1: `device::gpu::configure_fusion`), each against the
# first call's `wgsl-f16`; the last steps may not fit the call's 600 s), which skips HF unless asked (`MIXTUNE_SKIP_HF=0`); the two calls fit a
# session's 15 device minutes. Later sessions can pass
# `"spirv-f16=spirv:bench train --device gpu --shapes base --profile --dtype f16"`, the
# encoder's 512² attention through the tensor ops as before 12-05
# `"split-enc=wgsl:MIXTUNE_ATTENTION_KERNEL_MAX_SCORES=65536 bench train --device gpu --shapes base --profile"`,
# `"spirv-f32=spirv:bench train --device gpu --shapes base --profile"` and
# `"cold-log=wgsl:bench train --device gpu --shapes small --steps 1"`, and for f16's working
# copies (12-06, third session) against casts at use
# `"f16-at-use=wgsl:MIXTUNE_F16_WORKING_COPIES=0 bench train --device gpu --shapes base --profile --dtype f16"`
# beside the first call's `wgsl-f16`, and Burn's default fusion search in f32
# `"f32-fusion5=wgsl:MIXTUNE_FUSION_MAX_BLOCKS=5 bench train --device gpu --profile"` beside
# the first call's `wgsl-f32`.
# `MIXTUNE_SKIP_HF=1` leaves HF's reference out. `MIXTUNE_LEVERS=3` (a third call, a later
# session: ~6 min) times greedy generation in f32 and f16 with launches per decode step (f16
# now launches as few kernels as f32: is it faster?), and the SPIR-V build's cold first step
# twice with one cache folder: what its kept modules (CubeCL's compilation cache, on with
# `gpu-cache`) save a second run; then `prepare-gpu --shapes small --no-generation` (its 10
# training shapes fit the step's 200 s; the generations might not) on caches of its own (CubeCL's
# and the NVIDIA driver's, `__GL_SHADER_DISK_CACHE_PATH`) and the first step of a new process
# after it: issue item 2's "first step on a fresh machine" once set-up has prepared it.
# Since 12-07 (sixteenth session) `bench train` trains with T5's dropout 0.1 by default, the
# work HF's reference does (T5Config's default); the rows before it had none. Add
# `"f32-nodrop=wgsl:bench train --device gpu --profile --dropout 0"` beside the first call's
# `wgsl-f32` for what dropout costs Mixtune, and since 12-08
# `"f32-droppool=wgsl:MIXTUNE_DROPOUT_KERNEL=0 bench train --device gpu --profile"` for what
# the element-wise dropout kernel (no stored mask) saves over Burn's Bernoulli masks.
# A step whose NAME ends in `-log` runs with an empty autotune cache of its own and CubeCL's
# compilation/autotune log in $OUT/NAME.cubecl.log (its timings are not clean: the log also
# profiles every kernel), to count what the cold first step compiles and tunes.
set -u
for f in .carry/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export PYTHONUNBUFFERED=1
unpack() {
  [ -f "$1" ] || return 0
  xz -dc "$1" > "$2" 2>/dev/null ||
    python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"
  chmod +x "$2"
}
unpack .carry/mixtune.xz /tmp/mixtune-wgsl
unpack .carry/mixtune-vulkan.xz /tmp/mixtune-spirv
step() {
  local name=$1 t=$2; shift 2
  local s; s=$(date +%s%N)
  timeout "$t" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( ($(date +%s%N) - s) / 1000000 )) ms" | tee -a "$OUT/steps.txt"
}
{ nvidia-smi -L; for b in /tmp/mixtune-*; do echo "== $b"; "$b" devices; done; } > "$OUT/env.txt" 2>&1
ref=()
later=$([ "${MIXTUNE_LEVERS:-1}" = 1 ] && echo 0 || echo 1)
if [ "${MIXTUNE_SKIP_HF:-$later}" != 1 ] && [ -f .carry/hf_same_work.py ]; then
  step hf 170 python3 .carry/hf_same_work.py small,base
  grep '^{' "$OUT/hf.txt" | tail -1 > "$OUT/hf.json"
  [ -s "$OUT/hf.json" ] && ref=(--reference "$OUT/hf.json")
fi
third=$([ "${MIXTUNE_LEVERS:-1}" = 3 ] && echo 1 || echo 0)
if [ $# -eq 0 ] && [ "$third" = 1 ]; then
  set -- \
    "gen-f32=wgsl:bench generate --device gpu --profile" \
    "gen-f16=wgsl:bench generate --device gpu --profile --dtype f16" \
    "spirv-cold=spirv:MIXTUNE_KERNEL_CACHE=/tmp/kc-spirv bench train --device gpu --shapes small --steps 1" \
    "spirv-again=spirv:MIXTUNE_KERNEL_CACHE=/tmp/kc-spirv bench train --device gpu --shapes small --steps 1" \
    "prepare=wgsl:MIXTUNE_KERNEL_CACHE=/tmp/kc-prep __GL_SHADER_DISK_CACHE_PATH=/tmp/nv-prep prepare-gpu --shapes small --no-generation" \
    "prepared=wgsl:MIXTUNE_KERNEL_CACHE=/tmp/kc-prep __GL_SHADER_DISK_CACHE_PATH=/tmp/nv-prep bench train --device gpu --shapes small --steps 1"
elif [ $# -eq 0 ] && [ "${MIXTUNE_LEVERS:-1}" = 2 ]; then
  set -- \
    "f32-burn=wgsl:MIXTUNE_F32_GEMM=0 bench train --device gpu --profile" \
    "f32-tiled=wgsl:MIXTUNE_F32_GEMM=1 bench train --device gpu --profile" \
    "f16-staged=wgsl:MIXTUNE_COOP_STAGED=1 bench train --device gpu --shapes base --profile --dtype f16" \
    "attention=wgsl:bench attention --device gpu --shapes base --iters 5" \
    "f16-scalar-attn=wgsl:MIXTUNE_COOP_ATTENTION=0 bench train --device gpu --shapes base --profile --dtype f16" \
    "f16-burn-gemm=wgsl:MIXTUNE_COOP_MATMUL=0 bench train --device gpu --shapes base --profile --dtype f16" \
    "f16-wo-f32=wgsl:MIXTUNE_COOP_WO=0 bench train --device gpu --shapes base --profile --dtype f16" \
    "f16-fusion5=wgsl:MIXTUNE_FUSION_MAX_BLOCKS=5 bench train --device gpu --shapes base --profile --dtype f16"
elif [ $# -eq 0 ]; then
  set -- \
    "gemm=wgsl:bench gemm --device gpu --shapes base --iters 10" \
    "wgsl-f16=wgsl:bench train --device gpu --shapes base --profile --dtype f16" \
    "wgsl-f32=wgsl:bench train --device gpu --profile"
fi
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}; kind=${rest%%:*}
  read -r -a words <<< "${rest#*:}"
  envs=()
  while [ ${#words[@]} -gt 0 ] && [[ ${words[0]} =~ ^[A-Z_][A-Z0-9_]*= ]]; do
    envs+=("${words[0]}"); words=("${words[@]:1}")
  done
  bin=/tmp/mixtune-$kind
  [ -x "$bin" ] || { echo "$name: no $kind binary in .carry" | tee -a "$OUT/steps.txt"; continue; }
  if [ "${words[1]:-}" = gemm ] || [ "${words[1]:-}" = attention ]; then
    step "$name" 90 env "${envs[@]}" "$bin" "${words[@]}"  # no HF reference to compare
  elif [ "${name%-log}" != "$name" ]; then
    envs+=("MIXTUNE_KERNEL_CACHE=/tmp/$name-cache" "CUBECL_DEBUG_LOG=$OUT/$name.cubecl.log")
    step "$name" 200 env "${envs[@]}" "$bin" "${words[@]}"
  else
    step "$name" 200 env "${envs[@]}" "$bin" "${words[@]}" "${ref[@]}"
  fi
done
# CubeCL's records of the call (every compilation and every autotune trial, with durations:
# what the cold first steps spent compiling and tuning) and its tuning results, for
# `python3 scripts/bench/kernel_records.py $OUT/kernels/default.db`.
for cache in "$HOME/.cache/mixtune/kernels" /tmp/kc-prep; do
  [ -f "$cache/default.db" ] || continue
  mkdir -p "$OUT/$(basename "$cache")"
  cp "$cache"/default.db* "$cache"/product-choices.json "$OUT/$(basename "$cache")/" 2>/dev/null
done
cat "$OUT/steps.txt"
tail -n 30 "$OUT"/gemm.txt "$OUT"/attention.txt "$OUT"/*-f*.txt 2>/dev/null
