#!/usr/bin/env bash
# Fetch the wheels that benchmarks/gpu-check.sh installs on a GPU machine without network access
# (its image has torch with CUDA, numpy, scipy, pandas, seaborn, pytest, ...; it lacks gymnasium
# and MuJoCo). Run on a machine that reaches PyPI; the wheels are for CPython 3.12 on x86-64
# Linux, the device image's Python (PYVER=3.11 etc. for another). About 14 MB.
#
# Usage: benchmarks/gpu-wheels.sh [DIR]   (default: .whl in the repo root, which gpu-check.sh
#        reads; keep it out of git, e.g. `echo /.whl/ >> .git/info/exclude`)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-$REPO/.whl}
PYVER=${PYVER:-3.12}
# The versions tested with this repo (pyproject.toml's ranges); mujoco 4 splits into mujoco and
# mujoco-core (mujoco-studio, its viewer, is not needed); glfw is imported by gymnasium's
# MuJoCo renderer module even when nothing is rendered.
PACKAGES=(gymnasium==1.4.0 farama-notifications==0.0.6 mujoco==4.0.0 mujoco-core==4.0.0
    glfw==2.11.0 pyopengl==3.1.10)
PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64; do
    PLATFORMS+=(--platform "$p")
done
python3 -m pip download --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp "${PLATFORMS[@]}" -d "$DIR" "${PACKAGES[@]}"
ls -l "$DIR"
