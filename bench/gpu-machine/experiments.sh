#!/usr/bin/env bash
# The second H200 run (2026-12-04), after the first showed the tiled kernels slower than the baseline there and
# the tuner choosing them on timings of dispatches that did nothing (fixed): three run.sh passes in one command,
# everything folded into OUT_DIR's 8-file limit.
#   A: W1, W2, W5 f32+f16 with the fixed tuner ('auto') beside baseline and q128: does 'auto' now pick the fastest?
#   B: W2 f32, every other tiled config and the persistent-loop caps: is any tiled variant near the baseline?
#   C: W2 f32 baseline and q32 with Dawn's robustness (bounds clamps) off: what do the clamps cost each?
# With the device tool: run(command: 'for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig;
#   bash bench/gpu-machine/experiments.sh "$OUT"', carry: ['.gl', 'bench/gpu-machine/bundle'], timeout_s: 420)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-${OUT:-$PWD/gpu-results}}"
work="$(mktemp -d /tmp/maxsim-exp.XXXXXX)"
mkdir -p "$out"
WORKLOADS="W1 W2 W5" VARIANTS="auto,baseline,q128" DEADLINE_S=200 bash "$here/run.sh" "$work/A" 2>&1 | tail -n 60
NO_TORCH=1 WORKLOADS="W2" PRECISIONS=f32 VARIANTS="q32t32,q64,q32-subgroup,q32@1024,q32@4096,q64-subgroup" \
  bash "$here/run.sh" "$work/B" 2>&1 | tail -n 20
NO_TORCH=1 WORKLOADS="W2" PRECISIONS=f32 VARIANTS="baseline,q32" \
  MAXSIM_BENCH_DAWN_FLAGS=enable-dawn-features=disable_robustness bash "$here/run.sh" "$work/C" 2>&1 | tail -n 20
cp "$work/A/gpu-h200.json" "$out/gpu-h200-A.json" 2>/dev/null
cp "$work/A/gpu-info.txt" "$out/gpu-info.txt" 2>/dev/null
cat "$work"/{A,B,C}/anchors.txt > "$out/anchors.txt" 2>/dev/null
tar -C "$work" -czf "$out/experiments.tar.gz" A B C
ls -la "$out"
