#!/usr/bin/env bash
# Install the pinned locca_mm stack into a virtual environment (what `make install` runs).
#
#   VENV=.venv PYTHON=python3 bash tools/install.sh [--force | --check]
#
# --force reinstalls every step; --check only reports (exit 0: up to date, 1: not).
#
# torch + torchvision, mmcv 2.1.0 with its ops (built from the sdist when no cached
# wheel fits, then cached), mmengine/mmdet/mmpretrain/mmsegmentation, the metric,
# tokenizer and test extras, and locca_mm itself (editable).
#
# Environment:
#   VENV                   virtual environment to create/use (default: .venv)
#   PYTHON                 interpreter that creates it (default: python3)
#   LOCCA_WHEELHOUSE       directory of prebuilt wheels, tried first (pip --find-links)
#   LOCCA_TORCH            torch requirement (default: "torch==2.14.1 torchvision==0.29.1")
#   LOCCA_TORCH_INDEX_URL  index for torch, e.g. https://download.pytorch.org/whl/cu126
#   LOCCA_MMCV_CUDA        1: build mmcv's CUDA ops, 0: CPU ops only
#                          (default: CUDA ops when a GPU and nvcc are present)
#   MAX_JOBS               parallel compile jobs for mmcv (default: all cores)
#   XDG_CACHE_HOME         the mmcv wheel cache lives in $XDG_CACHE_HOME/locca_mm/wheels
#                          (default: ~/.cache/locca_mm/wheels)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
LOCCA_TORCH=${LOCCA_TORCH:-"torch==2.14.1 torchvision==0.29.1"}
LOCCA_TORCH_INDEX_URL=${LOCCA_TORCH_INDEX_URL:-}
MMCV_VERSION=2.1.0
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/locca_mm/wheels"
FORCE=0
CHECK=0
case "${1:-}" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    "") ;;
    *) echo "usage: $0 [--force | --check]" >&2; exit 2 ;;
esac

START=$SECONDS
say() { printf '[install %4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "no interpreter '$PYTHON' (set PYTHON=...)"

# --- up to date? ---------------------------------------------------------------------------
fingerprint() {
    {
        cat requirements/*.txt setup.py tools/install.sh
        echo "$LOCCA_TORCH|$LOCCA_TORCH_INDEX_URL|${LOCCA_MMCV_CUDA:-auto}"
        "$PYTHON" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.locca_mm-install"
WANT=$(fingerprint)
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
        && [ -x "$VENV/bin/python" ]; then
    say "stack in $VENV is up to date (delete $STAMP or pass --force to reinstall)"
    exit 0
fi
if [ "$CHECK" = 1 ]; then
    say "stack in $VENV is missing or out of date"
    exit 1
fi

# --- virtual environment -------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip)
# setuptools 81 dropped pkg_resources, which mmengine and mmcv's setup.py import; torch asks
# for setuptools>=77, so every install step carries the cap to keep one resolver honest.
SETUPTOOLS="setuptools<81"
pipq() {  # pip, minus the notes some machines print about absent local indexes
    "${PIP[@]}" "$@" 2> >(grep -v "^WARNING: Location 'file://" >&2)
}
pip_install() { pipq install -q "${FIND_LINKS[@]}" "$@" "$SETUPTOOLS"; }
FIND_LINKS=()
if [ -n "${LOCCA_WHEELHOUSE:-}" ]; then
    if [ -d "$LOCCA_WHEELHOUSE" ]; then
        LOCCA_WHEELHOUSE="$(cd "$LOCCA_WHEELHOUSE" && pwd)"
        FIND_LINKS=(--find-links "$LOCCA_WHEELHOUSE")
        say "using prebuilt wheels from $LOCCA_WHEELHOUSE first"
    else
        say "LOCCA_WHEELHOUSE=$LOCCA_WHEELHOUSE is not a directory: ignored"
    fi
fi

say "build tools"
pip_install wheel ninja

# --- torch ---------------------------------------------------------------------------------
say "torch: $LOCCA_TORCH (first time: about 3 min, ~5.5 GB)"
TORCH_ARGS=()
[ -n "$LOCCA_TORCH_INDEX_URL" ] && TORCH_ARGS=(--index-url "$LOCCA_TORCH_INDEX_URL")
# shellcheck disable=SC2086
pip_install "${TORCH_ARGS[@]}" $LOCCA_TORCH

# --- mmcv with ops -------------------------------------------------------------------------
read -r TORCH_VER CUDA_VER GPU_OK < <("$PY" - <<'EOF'
import torch
print(torch.__version__.split('+')[0], torch.version.cuda or 'none', int(torch.cuda.is_available()))
EOF
)
NVCC=$(command -v nvcc || { [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ] && echo "$CUDA_HOME/bin/nvcc"; } || true)
case "${LOCCA_MMCV_CUDA:-auto}" in
    1) [ -n "$NVCC" ] || die "LOCCA_MMCV_CUDA=1 but nvcc was not found (set CUDA_HOME)"
       [ "$CUDA_VER" != none ] || die "LOCCA_MMCV_CUDA=1 but torch is a CPU build"
       MMCV_CUDA=1 ;;
    0) MMCV_CUDA=0 ;;
    *) if [ "$GPU_OK" = 1 ] && [ -n "$NVCC" ] && [ "$CUDA_VER" != none ]; then MMCV_CUDA=1
       else MMCV_CUDA=0
           [ "$GPU_OK" = 1 ] && say "warning: a GPU is present but nvcc is not: mmcv gets CPU ops only"
       fi ;;
esac
if [ "$MMCV_CUDA" = 1 ]; then FLAVOUR="cu${CUDA_VER//./}"; else FLAVOUR=cpu; fi
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
KEY="mmcv-$MMCV_VERSION-$PYTAG-torch$TORCH_VER-$FLAVOUR-$(uname -m)"
CACHE_DIR="$CACHE_ROOT/$KEY"

mmcv_ok() {
    MMCV_CUDA=$MMCV_CUDA "$PY" - <<EOF >/dev/null 2>&1
import os
import mmcv
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
from mmcv.ops import get_compiling_cuda_version, nms, roi_align  # noqa: F401
if os.environ['MMCV_CUDA'] == '1':
    assert get_compiling_cuda_version() != 'not available'
EOF
}

try_mmcv_wheels_in() {  # $1: directory; installs the first wheel there that imports
    local dir=$1 whl
    [ -d "$dir" ] || return 1
    for whl in "$dir"/mmcv-"$MMCV_VERSION"-"$PYTAG"-*.whl; do
        [ -f "$whl" ] || continue
        pipq install -q --no-deps --force-reinstall "$whl" || continue
        if mmcv_ok; then say "mmcv from $whl"; return 0; fi
        say "$whl does not fit this torch/$FLAVOUR: skipped"
        pipq uninstall -q -y mmcv >/dev/null 2>&1 || true
    done
    return 1
}

build_mmcv() {
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    local jobs=${MAX_JOBS:-$(nproc)}
    if [ "$MMCV_CUDA" = 1 ]; then
        say "building mmcv $MMCV_VERSION with CUDA ops ($FLAVOUR) from source: expect 30-60 min"
    else
        say "building mmcv $MMCV_VERSION with CPU ops from source: expect ~22 min on 2 cores (once; then cached in $CACHE_DIR)"
    fi
    MMCV_WITH_OPS=1 pipq download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$tmp/sdist"
    tar xzf "$tmp"/sdist/mmcv-"$MMCV_VERSION".tar.gz -C "$tmp"
    # torch >= 2.x headers need C++20; mmcv 2.1.0 asks for C++17.
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp/mmcv-$MMCV_VERSION/setup.py"
    (cd "$tmp/mmcv-$MMCV_VERSION" &&
        MMCV_WITH_OPS=1 FORCE_CUDA=$MMCV_CUDA MAX_JOBS=$jobs \
        pipq wheel -q --no-build-isolation --no-deps -w "$tmp/wheel" .)
    local whl
    whl=$(ls "$tmp"/wheel/mmcv-*.whl)
    say "stripping debug info from the wheel (~30 MiB -> a few MiB)"
    (cd "$tmp/wheel" && "$PY" -m wheel unpack -d unpacked "$whl" >/dev/null &&
        find unpacked -name '*.so' -exec strip --strip-debug {} + &&
        rm "$whl" && "$PY" -m wheel pack -d . unpacked/* >/dev/null)
    mkdir -p "$CACHE_DIR"
    cp "$tmp"/wheel/mmcv-*.whl "$CACHE_DIR/"
    say "cached $(basename "$(ls "$CACHE_DIR"/mmcv-*.whl | head -1)") in $CACHE_DIR"
}

say "mmcv's dependencies"
pip_install addict numpy packaging Pillow pyyaml yapf opencv-python \
    "$(grep -E '^mmengine' requirements/mminstall.txt)"
if mmcv_ok; then
    say "mmcv $MMCV_VERSION with ops already installed"
elif try_mmcv_wheels_in "$CACHE_DIR"; then
    :
elif [ "$FLAVOUR" = cpu ] && [ -n "${LOCCA_WHEELHOUSE:-}" ] && try_mmcv_wheels_in "$LOCCA_WHEELHOUSE"; then
    :
else
    build_mmcv
    try_mmcv_wheels_in "$CACHE_DIR" || die "the freshly built mmcv wheel does not import"
fi

# --- the rest of the stack -----------------------------------------------------------------
say "OpenMMLab stack, metrics, tokenizers and test tools (about 1 min)"
pip_install -r requirements/mminstall.txt -r requirements/runtime.txt \
    -r requirements/optional.txt -r requirements/tests.txt
say "locca_mm (editable)"
pipq install -q --no-build-isolation --no-deps -e .

say "checking imports"
"$PY" -c "import locca_mm, mmcv.ops, mmdet.models, mmpretrain.models, mmseg.models" \
    || die "the stack does not import"
echo "$WANT" > "$STAMP"
say "done: $VENV is ready ($(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s)"
