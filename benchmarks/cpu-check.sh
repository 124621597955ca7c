#!/usr/bin/env bash
# The CPU measurements of benchmarks/README.md in one go (about 10 minutes on 2 cores).
#   benchmarks/cpu-check.sh OUTDIR
# Run it from the repo root, in the project's environment, on an otherwise quiet machine: the
# variants of each benchmark are interleaved, so their ratios survive a steady background load,
# but not a job that starts or stops halfway. OUTDIR gets env.txt (machine, torch, commit, load
# before and after), bench-train.txt, bench-plan.txt and bench-startup.txt.
set -euo pipefail
out=${1:?usage: benchmarks/cpu-check.sh OUTDIR}
mkdir -p "$out"

describe() {
    echo "date: $(date -u +%FT%TZ)"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
}
{
    describe
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
    echo "torch: $(python -c 'import torch; print(torch.__version__)')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$out/env.txt"

pets bench train --device cpu --repeats 3 | tee "$out/bench-train.txt"
pets bench plan --device cpu --repeats 3 | tee "$out/bench-plan.txt"
pets bench startup --device cpu --threads 1 --repeats 5 | tee "$out/bench-startup.txt"
{
    echo "after:"
    describe
} >>"$out/env.txt"
cat "$out/env.txt"
