#!/usr/bin/env bash
# Install the pinned locca_mm stack into a virtual environment (what `make install` runs).
#
#   VENV=.venv PYTHON=python3 bash tools/install/install.sh [--force | --check]
#
# --force reinstalls every step; --check only reports (exit 0: up to date, 1: not).
#
# torch + torchvision, mmcv 2.1.0 (built from the sdist when no cached wheel fits, then
# cached), mmengine/mmdet/mmpretrain/mmsegmentation, the metric, tokenizer and test extras,
# and locca_mm itself (editable). Works from any working directory; a relative VENV is
# taken relative to the directory the script is called from.
#
# Environment:
#   VENV                   virtual environment to create/use (default: .venv)
#   PYTHON                 interpreter that creates it (default: python3)
#   LOCCA_WHEELHOUSE       directory of prebuilt wheels, tried first (pip --find-links); one
#                          written by tools/install/make_wheelhouse.sh (it holds
#                          wheelhouse.json) is complete, and the install then runs with no
#                          network (pip --no-index)
#   LOCCA_TORCH            torch requirement (default: "torch==2.14.1 torchvision==0.29.1");
#                          "system": keep the torch the interpreter already has (the venv is
#                          created with --system-site-packages; nothing of torch is installed)
#   LOCCA_TORCH_INDEX_URL  index for torch, e.g. https://download.pytorch.org/whl/cu126
#   LOCCA_MMCV_OPS         1 (default): mmcv with its compiled ops (mmdet/mmseg transfer need
#                          them); 0: pure-Python mmcv in minutes, enough for pretraining, REC and
#                          captioning (docs/en/get_started.md)
#   LOCCA_MMCV_CUDA        1: build mmcv's CUDA ops, 0: CPU ops only
#                          (default: CUDA ops when a GPU and nvcc are present)
#   MAX_JOBS               parallel compile jobs for mmcv (default: all cores)
#   LOCCA_VENV_GIB         free GiB asked for before a new venv is filled (default: 8; a
#                          CUDA torch stack takes ~6.4 GiB); 0 skips the check
#   LOCCA_BUILD_GIB        free GiB asked for in TMPDIR before the mmcv build (default: 2)
#   XDG_CACHE_HOME         the mmcv wheel cache lives in $XDG_CACHE_HOME/locca_mm/wheels
#                          (default: ~/.cache/locca_mm/wheels)
set -euo pipefail

CALLER_PWD=$PWD
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV=${VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$CALLER_PWD/$VENV" ;; esac  # absolute from here on
PYTHON=${PYTHON:-python3}
LOCCA_TORCH=${LOCCA_TORCH:-"torch==2.14.1 torchvision==0.29.1"}
LOCCA_TORCH_INDEX_URL=${LOCCA_TORCH_INDEX_URL:-}
LOCCA_MMCV_OPS=${LOCCA_MMCV_OPS:-1}
LOCCA_VENV_GIB=${LOCCA_VENV_GIB:-8}
LOCCA_BUILD_GIB=${LOCCA_BUILD_GIB:-2}
MMCV_VERSION=2.1.0
MIN_PYTHON=3.10  # torch 2.14 needs it
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/locca_mm/wheels"
FORCE=0
CHECK=0
case "${1:-}" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    "") ;;
    *) echo "usage: $0 [--force | --check]" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "usage: $0 [--force | --check]" >&2; exit 2; }
case "$LOCCA_MMCV_OPS" in 0|1) ;; *) echo "LOCCA_MMCV_OPS must be 0 or 1, not '$LOCCA_MMCV_OPS'" >&2; exit 2 ;; esac
for v in LOCCA_VENV_GIB LOCCA_BUILD_GIB; do
    case "${!v}" in ''|*[!0-9]*) echo "$v must be a whole number of GiB, not '${!v}'" >&2; exit 2 ;; esac
done
cd "$ROOT"

START=$SECONDS
say() { printf '[install %4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }

# --- what the machine must have ------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || die "no interpreter '$PYTHON' (set PYTHON=...)"
"$PYTHON" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" \
    || die "$("$PYTHON" --version 2>&1) is too old: Python >= $MIN_PYTHON is needed (set PYTHON=...)"
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "'$PYTHON' cannot create virtual environments (Debian/Ubuntu: apt install python3-venv)"

existing_dir() {  # $1 or its nearest existing parent
    local d=$1
    while [ ! -d "$d" ]; do d=$(dirname "$d"); done
    printf '%s' "$d"
}
need_disk() {  # $1: directory, $2: GiB (0: no check), $3: what for
    local d free mount
    [ "$2" -gt 0 ] || return 0
    d=$(existing_dir "$1")
    free=$(df -Pk "$d" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
    mount=$(df -Pk "$d" | awk 'NR == 2 { print $6 }')
    [ "$free" -ge "$2" ] || die "$3 needs ${2} GiB free on $mount ($1); ${free} GiB are free (free some space, or set ${4} to what you know suffices)"
}
need_compiler() {  # what building mmcv's ops needs, checked before the long build starts
    local cxx=${CXX:-}
    [ -n "$cxx" ] || cxx=$(command -v c++ || command -v g++ || true)
    [ -n "$cxx" ] && command -v "$cxx" >/dev/null 2>&1 \
        || die "building mmcv's ops needs a C++ compiler: none found (Debian/Ubuntu: apt install g++; or set CXX=...)"
    "$1" -c "import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
        || die "building mmcv's ops needs the Python headers (Python.h) of $("$1" --version 2>&1) (Debian/Ubuntu: apt install python3-dev)"
}
PYTAG=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
have_mmcv_wheel() {  # any cached or wheelhouse mmcv wheel for this Python (it may still not fit)
    compgen -G "$CACHE_ROOT/*/mmcv-$MMCV_VERSION-$PYTAG-*.whl" >/dev/null \
        || { [ -n "${LOCCA_WHEELHOUSE:-}" ] && compgen -G "$LOCCA_WHEELHOUSE/mmcv-$MMCV_VERSION-$PYTAG-*.whl" >/dev/null; }
}

# --- up to date? ---------------------------------------------------------------------------
fingerprint() {
    {
        cat requirements/*.txt setup.py tools/install/install.sh
        echo "$LOCCA_TORCH|$LOCCA_TORCH_INDEX_URL|${LOCCA_MMCV_CUDA:-auto}|$LOCCA_MMCV_OPS"
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

# --- wheel sources -------------------------------------------------------------------------
FIND_LINKS=()
if [ -n "${LOCCA_WHEELHOUSE:-}" ]; then
    if [ -d "$LOCCA_WHEELHOUSE" ]; then
        LOCCA_WHEELHOUSE="$(cd "$LOCCA_WHEELHOUSE" && pwd)"
        FIND_LINKS=(--find-links "$LOCCA_WHEELHOUSE")
        if [ -f "$LOCCA_WHEELHOUSE/wheelhouse.json" ]; then
            FIND_LINKS+=(--no-index)
            say "installing offline from the wheelhouse $LOCCA_WHEELHOUSE (pip --no-index)"
        else
            say "using prebuilt wheels from $LOCCA_WHEELHOUSE first"
        fi
    else
        say "LOCCA_WHEELHOUSE=$LOCCA_WHEELHOUSE is not a directory: ignored"
        LOCCA_WHEELHOUSE=
    fi
fi

# Fail in the first seconds, not after the torch download, when a build would be due and
# cannot succeed.
if [ ! -x "$VENV/bin/python" ] && [ "$LOCCA_TORCH" != system ]; then
    need_disk "$VENV" "$LOCCA_VENV_GIB" "torch and the stack (~6.4 GiB in the venv)" LOCCA_VENV_GIB
fi
if [ "$LOCCA_MMCV_OPS" = 1 ] && ! have_mmcv_wheel && ! [ -x "$VENV/bin/python" ]; then
    need_compiler "$PYTHON"
    need_disk "${TMPDIR:-/tmp}" "$LOCCA_BUILD_GIB" "building mmcv" LOCCA_BUILD_GIB
fi

# --- virtual environment -------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    VENV_ARGS=()
    [ "$LOCCA_TORCH" = system ] && VENV_ARGS=(--system-site-packages)
    say "creating virtual environment $VENV with $("$PYTHON" --version 2>&1) ${VENV_ARGS[*]:-}"
    "$PYTHON" -m venv "${VENV_ARGS[@]}" "$VENV"
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

say "build tools"
pip_install wheel ninja

# --- torch ---------------------------------------------------------------------------------
if [ "$LOCCA_TORCH" = system ]; then
    "$PY" -c 'import torch, torchvision' 2>/dev/null \
        || die "LOCCA_TORCH=system, but torch and torchvision do not import in $VENV (is it a venv with --system-site-packages over the Python that has them?)"
    say "torch: keeping $("$PY" -c 'import torch; print(torch.__version__)') from the system"
else
    say "torch: $LOCCA_TORCH (first time: about 3 min, ~5.5 GB)"
    TORCH_ARGS=()
    [ -n "$LOCCA_TORCH_INDEX_URL" ] && TORCH_ARGS=(--index-url "$LOCCA_TORCH_INDEX_URL")
    # shellcheck disable=SC2086
    pip_install "${TORCH_ARGS[@]}" $LOCCA_TORCH
fi

# --- mmcv ----------------------------------------------------------------------------------
read -r TORCH_VER CUDA_VER GPU_OK < <("$PY" - <<'PYEOF'
import torch
print(torch.__version__.split('+')[0], torch.version.cuda or 'none', int(torch.cuda.is_available()))
PYEOF
)
NVCC=$(command -v nvcc || { [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ] && echo "$CUDA_HOME/bin/nvcc"; } || true)
if [ "$LOCCA_MMCV_OPS" = 0 ]; then
    MMCV_CUDA=0
    FLAVOUR=noops
else
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
fi
KEY="mmcv-$MMCV_VERSION-$PYTAG-torch$TORCH_VER-$FLAVOUR-$(uname -m)"
CACHE_DIR="$CACHE_ROOT/$KEY"

mmcv_ok() {
    MMCV_CUDA=$MMCV_CUDA MMCV_OPS=$LOCCA_MMCV_OPS "$PY" - <<PYEOF >/dev/null 2>&1
import os
import mmcv
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
if os.environ['MMCV_OPS'] == '1':
    from mmcv.ops import get_compiling_cuda_version, nms, roi_align  # noqa: F401
    if os.environ['MMCV_CUDA'] == '1':
        assert get_compiling_cuda_version() != 'not available'
PYEOF
}

# A build without ops is published under the name mmcv-lite (same `mmcv` module); a wheel
# with ops serves a no-ops install too.
MMCV_WHEELS=("mmcv-$MMCV_VERSION-$PYTAG-*.whl")
[ "$LOCCA_MMCV_OPS" = 0 ] && MMCV_WHEELS=("mmcv_lite-$MMCV_VERSION-*.whl" "${MMCV_WHEELS[@]}")

try_mmcv_wheels_in() {  # $1: directory; installs the first wheel there that imports
    local dir=$1 whl pattern
    [ -d "$dir" ] || return 1
    for pattern in "${MMCV_WHEELS[@]}"; do
        for whl in "$dir"/$pattern; do
            [ -f "$whl" ] || continue
            pipq install -q --no-deps --force-reinstall "$whl" || continue
            if mmcv_ok; then say "mmcv from $whl"; return 0; fi
            say "$whl does not fit this torch/$FLAVOUR: skipped"
            pipq uninstall -q -y mmcv mmcv-lite >/dev/null 2>&1 || true
        done
    done
    return 1
}

build_mmcv() {
    local tmp jobs whl
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    jobs=${MAX_JOBS:-$(nproc)}
    if [ "$LOCCA_MMCV_OPS" = 1 ]; then
        need_compiler "$PY"
        need_disk "$tmp" "$LOCCA_BUILD_GIB" "building mmcv" LOCCA_BUILD_GIB
    fi
    case "$FLAVOUR" in
        noops) say "building mmcv $MMCV_VERSION without ops (pure Python) from source (about a minute)" ;;
        cpu) say "building mmcv $MMCV_VERSION with CPU ops from source: expect ~22 min on 2 cores (once; then cached in $CACHE_DIR)" ;;
        *) say "building mmcv $MMCV_VERSION with CUDA ops ($FLAVOUR) from source: expect 30-60 min (once; then cached in $CACHE_DIR)" ;;
    esac
    # MMCV_WITH_OPS=1 here whatever the build: without it the sdist's metadata says mmcv-lite.
    MMCV_WITH_OPS=1 pipq download -q "${FIND_LINKS[@]}" --no-deps --no-binary :all: \
        --no-build-isolation "mmcv==$MMCV_VERSION" -d "$tmp/sdist"
    tar xzf "$tmp"/sdist/mmcv-"$MMCV_VERSION".tar.gz -C "$tmp"
    # torch >= 2.x headers need C++20; mmcv 2.1.0 asks for C++17.
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp/mmcv-$MMCV_VERSION/setup.py"
    (cd "$tmp/mmcv-$MMCV_VERSION" &&
        MMCV_WITH_OPS=$LOCCA_MMCV_OPS FORCE_CUDA=$MMCV_CUDA MAX_JOBS=$jobs \
        pipq wheel -q --no-build-isolation --no-deps -w "$tmp/wheel" .)
    whl=$(ls "$tmp"/wheel/mmcv*.whl)
    if [ "$LOCCA_MMCV_OPS" = 1 ]; then
        say "stripping debug info from the wheel (~30 MiB -> a few MiB)"
        (cd "$tmp/wheel" && "$PY" -m wheel unpack -d unpacked "$whl" >/dev/null &&
            find unpacked -name '*.so' -exec strip --strip-debug {} + &&
            rm "$whl" && "$PY" -m wheel pack -d . unpacked/* >/dev/null)
    fi
    mkdir -p "$CACHE_DIR"
    cp "$tmp"/wheel/mmcv*.whl "$CACHE_DIR/"
    say "cached $(basename "$whl") in $CACHE_DIR"
}

say "mmcv's dependencies"
pip_install addict numpy packaging Pillow pyyaml yapf opencv-python \
    "$(grep -E '^mmengine' requirements/mminstall.txt)"
if mmcv_ok; then
    say "mmcv $MMCV_VERSION ($FLAVOUR) already installed"
elif try_mmcv_wheels_in "$CACHE_DIR"; then
    :
elif [ -z "${LOCCA_WHEELHOUSE:-}" ] || ! try_mmcv_wheels_in "$LOCCA_WHEELHOUSE"; then
    build_mmcv
    try_mmcv_wheels_in "$CACHE_DIR" || die "the freshly built mmcv wheel does not import"
fi

# --- the rest of the stack -----------------------------------------------------------------
say "OpenMMLab stack, metrics, tokenizers and test tools (about 1 min)"
MMINSTALL=requirements/mminstall.txt
if [ "$LOCCA_MMCV_OPS" = 0 ]; then  # mmcv-lite is installed: asking for mmcv would build it
    MMINSTALL=$(mktemp)
    grep -v -E '^\s*mmcv\b' requirements/mminstall.txt > "$MMINSTALL"
fi
pip_install -r "$MMINSTALL" -r requirements/runtime.txt \
    -r requirements/optional.txt -r requirements/tests.txt
pip_install --no-deps -r requirements/mim.txt  # see the file: its pinned deps are not needed
[ "$MMINSTALL" = requirements/mminstall.txt ] || rm -f "$MMINSTALL"
say "locca_mm (editable)"
pipq install -q "${FIND_LINKS[@]}" --no-build-isolation --no-deps -e .
# mim and mmengine's `_base_ = ['locca_mm::...']` look for the package at <site-packages>/locca_mm
# (its distribution's location), where an editable install leaves only its metadata: link the
# source package there (the same files; configs and tools are under locca_mm/.mim, see setup.py).
SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
case "$SITE" in
    "$VENV"/*) if [ -L "$SITE/locca_mm" ] || [ ! -e "$SITE/locca_mm" ]; then
                   ln -sfn "$ROOT/locca_mm" "$SITE/locca_mm"
               fi ;;
esac

say "checking imports"
if [ "$LOCCA_MMCV_OPS" = 1 ]; then
    "$PY" -c "import locca_mm, mmcv.ops, mmdet.models, mmpretrain.models, mmseg.models" \
        || die "the stack does not import"
else
    "$PY" -c "import locca_mm, locca_mm.models, locca_mm.datasets, locca_mm.evaluation" \
        || die "the pretraining stack does not import"
    say "mmcv without ops: pretraining, REC and captioning work; mmdet/mmseg transfer needs LOCCA_MMCV_OPS=1"
fi
echo "$WANT" > "$STAMP"
say "done: $VENV is ready ($(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s)"
