#!/usr/bin/env bash
# Fetch every wheel benchmarks/gpu-check.sh installs on a GPU machine without network access:
# the requirements benchmarks/gpu_requirements.py derives from pyproject.toml (runtime and test
# dependencies, the build requirements, less torch, the workflow tools and the linters) with all
# their dependencies, so a machine with only Python and a CUDA torch can run the check. Run on
# a machine that reaches PyPI (with Python >= 3.11); the wheels are for CPython 3.12 on x86-64
# Linux, the device image's Python (PYVER=3.11 etc. for another). About 150 MB.
#
# Usage: benchmarks/gpu-wheels.sh [DIR]   (default: .whl in the repo root, which gpu-check.sh
#        reads; keep it out of git, e.g. `echo /.whl/ >> .git/info/exclude`)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-$REPO/.whl}
PYVER=${PYVER:-3.12}
mapfile -t PACKAGES < <(python3 "$REPO/benchmarks/gpu_requirements.py" list)
((${#PACKAGES[@]} > 0)) || {
    echo "gpu-wheels: error: no requirements from benchmarks/gpu_requirements.py" >&2
    exit 2
}
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64; do
    PLATFORMS+=(--platform "$p")
done
# With dependencies: pip resolves them for the target Python and platform (torch is no
# dependency of any of these, so no CUDA or CPU torch is fetched).
python3 -m pip download --only-binary=:all: --python-version "$PYVER" --implementation cp \
    "${PLATFORMS[@]}" -d "$DIR" "${PACKAGES[@]}"
echo "gpu-wheels: $(find "$DIR" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "$DIR" | cut -f1), in $DIR"
