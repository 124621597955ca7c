#!/usr/bin/env bash
# The one prepared GPU check of pets (targets: docs/spec/reference-numbers.md §6): on one
# H100/H200, in at most 9 minutes,
#   1. install: from a local wheel folder, every requirement of this repo beside torch (see
#      benchmarks/gpu_requirements.py), then this repo, then a check that all of it imports,
#   2. pytest -m gpu,
#   3. pets bench plan and pets bench train on CUDA (eager vs captured vs TF32, with the floor
#      and the plain references in the same process),
#   4. a short cartpole PE-TSinf run at the paper's planner settings, several seeds at once,
#   5. pets aggregate + pets figures on those runs,
# then a summary table (printed and in OUTDIR/summary.txt). Every step has its own timeout, and
# the timeouts plus each step's grace before SIGKILL (KILL_AFTER) add up to 529 s, so the whole
# stays under 9 minutes however a step ends; a step that fails or times out is recorded and the
# check goes on. Nothing is written into the checkout: the package is built from a copy under
# OUTDIR, and Python writes no bytecode beside the sources.
#
# Usage: benchmarks/gpu-check.sh OUTDIR
# Environment:
#   PETS_WHEELS       folder of wheels to install first (default: .whl in the repo root; made by
#                     benchmarks/gpu-wheels.sh on a machine with PyPI); skipped if absent
#   PETS_GPU_ITERS    training iterations of the cartpole runs (default 8; the paper runs 50)
#   PETS_GPU_SEEDS    seeds run as concurrent processes (default "0 1 2")
#   PYTHON            the interpreter that holds torch with CUDA (default python3); pip installs
#                     into its environment (a venv made with --system-site-packages, say, where
#                     the system's Python is marked externally managed)
#   PETS_GPU_DRY_RUN  1: run the install step only (no GPU needed), print its log and exit with
#                     its status; shows a bare machine's install works before the device time
#
# OUTDIR gets: summary.txt, pytest-gpu.txt, bench-plan.txt, bench-train.txt, env.txt and
# all.tar.gz (everything, runs/tables/figures/logs included), plus the folders themselves.
set -uo pipefail

die() {
    echo "gpu-check: error: $*" >&2
    exit 2
}

[[ $# -eq 1 ]] || die "usage: benchmarks/gpu-check.sh OUTDIR"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUTDIR=$(mkdir -p "$1" && cd "$1" && pwd) || die "cannot create $1"
PY=${PYTHON:-python3}
WHEELS=${PETS_WHEELS:-$REPO/.whl}
ITERS=${PETS_GPU_ITERS:-8}
DRY_RUN=${PETS_GPU_DRY_RUN:-0}
KILL_AFTER=3 # seconds between a step's timeout (SIGTERM) and its SIGKILL
SEEDS=${PETS_GPU_SEEDS:-0 1 2}
read -r -a SEED_LIST <<<"$SEEDS"
THREADS=$(($(nproc) / ${#SEED_LIST[@]}))
((THREADS >= 1)) || THREADS=1
export REPO OUTDIR PY WHEELS ITERS SEEDS THREADS

if [[ $DRY_RUN != 1 ]]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null ||
        die "no CUDA device: $PY's torch.cuda.is_available() is False (this check needs a GPU)"
fi

cd "$REPO" || die "cannot enter $REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" # this checkout, installed or not
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the checkout (installed packages have theirs)
export MUJOCO_GL=disable # nothing is rendered; the device image may lack the GL loaders
mkdir -p "$OUTDIR/logs"
STEPS="$OUTDIR/logs/steps.tsv"
printf 'step\tstatus\tseconds\tlimit_s\n' >"$STEPS"

# step NAME LIMIT_S LOG CMD...: run CMD under its own timeout, log its output, record the outcome.
# CMD may be one of the do_* functions below (exported, run by a child bash under timeout).
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    local start=$SECONDS rc status
    echo "gpu-check: $name (limit ${limit}s)"
    if declare -F "$1" >/dev/null; then
        timeout --kill-after="$KILL_AFTER" "$limit" bash -c "$1" >"$log" 2>&1
    else
        timeout --kill-after="$KILL_AFTER" "$limit" "$@" >"$log" 2>&1
    fi
    rc=$?
    case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status="failed(rc=$rc)" ;;
    esac
    printf '%s\t%s\t%s\t%s\n' "$name" "$status" $((SECONDS - start)) "$limit" >>"$STEPS"
    echo "gpu-check: $name: $status in $((SECONDS - start))s"
    return 0
}

do_install() {
    local reqs build=$OUTDIR/build/src
    mapfile -t reqs < <("$PY" "$REPO/benchmarks/gpu_requirements.py" list)
    ((${#reqs[@]} > 0)) || return 1
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        # Resolved from the folder alone; what the environment already holds in range stays
        # (above all its CUDA torch, which none of these requires).
        "$PY" -m pip install --no-index --find-links "$WHEELS" --no-cache-dir "${reqs[@]}" ||
            return 1
    else
        echo "no wheels in $WHEELS: installing nothing beside the repo"
    fi
    # Built from a copy, so pets.egg-info and build/ land under OUTDIR, not in the checkout
    # (which PYTHONPATH puts first anyway); --no-deps: the line above installed them.
    rm -rf "$build" && mkdir -p "$build" &&
        cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/pets" "$build/" &&
        "$PY" -m pip install --no-index --no-deps --no-build-isolation --no-cache-dir "$build" ||
        echo "install of pets failed; using this checkout through PYTHONPATH"
    # Every requirement present and importable, the env builds, and every test module imports,
    # before any timed step.
    "$PY" "$REPO/benchmarks/gpu_requirements.py" check || return 1
    "$PY" -c "import pets.cli, pets.analysis.figures; from pets.envs import make_env; make_env('cartpole').close()" ||
        return 1
    "$PY" -m pytest -m gpu --collect-only -q -p no:cacheprovider tests | tail -n 1
    return "${PIPESTATUS[0]}"
}

do_environment() {
    nvidia-smi || true
    git -C "$REPO" log -1 --format='commit %H %cs %s' || true
    "$PY" -c "import torch, sys; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda); print('device', torch.cuda.get_device_name(0))"
    echo "nproc $(nproc); seeds $SEEDS, $THREADS threads each, $ITERS iterations"
}

do_cartpole_runs() {
    local pids=() s
    for s in $SEEDS; do
        "$PY" -m pets mbexp -env cartpole -device cuda -seed "$s" -threads "$THREADS" \
            -outdir "$OUTDIR/runs/cartpole-PE-TSinf-seed$s" \
            -o exp_cfg.exp_cfg.ntrain_iters "$ITERS" \
            >"$OUTDIR/logs/mbexp-seed$s.txt" 2>&1 &
        pids+=($!)
    done
    local rc=0 p
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

export -f do_install do_environment do_cartpole_runs

step install 75 "$OUTDIR/logs/install.txt" do_install
# Without every requirement the timed steps would only fail one after another: stop here.
if ! grep -q $'^install\tok\t' "$STEPS"; then
    tail -n 20 "$OUTDIR/logs/install.txt" >&2
    die "the install step failed (its log: $OUTDIR/logs/install.txt); no GPU step was run"
fi
if [[ $DRY_RUN == 1 ]]; then
    cat "$OUTDIR/logs/install.txt"
    echo "gpu-check: dry run: the install step passed; no GPU step was run"
    exit 0
fi
step environment 10 "$OUTDIR/env.txt" do_environment
step pytest-gpu 75 "$OUTDIR/pytest-gpu.txt" "$PY" -m pytest -m gpu -q -p no:cacheprovider tests
step bench-plan 80 "$OUTDIR/bench-plan.txt" "$PY" -m pets bench plan --device cuda --threads 1
step bench-train 75 "$OUTDIR/bench-train.txt" "$PY" -m pets bench train --device cuda --threads 1
# Killed seeds still leave every finished iteration in their logs.mat (written each iteration).
step cartpole-runs 130 "$OUTDIR/logs/cartpole-runs.txt" do_cartpole_runs
step aggregate 25 "$OUTDIR/logs/aggregate.txt" "$PY" -m pets aggregate --runs "$OUTDIR/runs" \
    --tables "$OUTDIR/tables" --metrics "$OUTDIR/tables/metrics.json" --skip-bad
step figures 35 "$OUTDIR/logs/figures.txt" "$PY" -m pets figures --tables "$OUTDIR/tables" \
    --out "$OUTDIR/figures"

"$PY" "$REPO/benchmarks/gpu_summary.py" "$OUTDIR" | tee "$OUTDIR/summary.txt"
# Packed outside OUTDIR first (tar refuses a folder that changes while it reads it).
PACK=$(mktemp) && tar -czf "$PACK" -C "$OUTDIR" --exclude=./all.tar.gz --exclude=./build . &&
    chmod 644 "$PACK" && mv "$PACK" "$OUTDIR/all.tar.gz"
echo "gpu-check: everything under $OUTDIR (all.tar.gz holds it in one file)"
