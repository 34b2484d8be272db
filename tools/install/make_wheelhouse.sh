#!/usr/bin/env bash
# Download every wheel the locca_mm stack needs into DIR, for this machine or another target,
# so that an offline machine (a GPU cluster without internet) installs with no network:
#
#   bash tools/install/make_wheelhouse.sh DIR [--python 3.12]
#                                             [--platform manylinux_2_28_x86_64]
#                                             [--no-torch] [--mmcv-ops 0|1]
#                                             [--requirements FILE]... [--no-deps]
#   # copy DIR to the offline machine, then there:
#   LOCCA_WHEELHOUSE=DIR make install
#
# --python / --platform  the target's Python version and platform tag (default: this machine).
#                        A manylinux_2_N platform also takes the older manylinux wheels its
#                        machines run (2_17, 2014, ...), as pip on that machine would.
# --no-torch             leave torch and torchvision out (the target has its own: install there
#                        with LOCCA_TORCH=system, docs/en/get_started.md).
# --mmcv-ops 1 (default) mmcv's sdist goes in, plus its wheel when the target is this machine
#                        (the one `make install` built and cached here, else built now by
#                        installing from the wheelhouse itself, offline, which also proves it
#                        complete). Another target builds mmcv from that sdist when installing.
# --mmcv-ops 0           a pure-Python mmcv wheel, built here, for any target (LOCCA_MMCV_OPS=0).
# --requirements FILE    wheels for these requirements only (repeatable), instead of the stack
#                        (an mmcv line in them is served as --mmcv-ops says).
# --no-deps              only what the requirements name, not their dependencies (for a target
#                        that has the rest, e.g. requirements/gpu_check.txt on a GPU image).
#
# Environment: PYTHON (default python3) runs pip here; LOCCA_TORCH as for
# tools/install/install.sh.
# DIR gets wheelhouse.json (target, options, every file with its size and sha256); its
# presence tells tools/install/install.sh the wheelhouse is complete (pip --no-index).
set -euo pipefail

usage() {
    { echo "usage: bash tools/install/make_wheelhouse.sh DIR [options]"
      sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; } >&2
    exit 2
}
die() { printf '[wheelhouse] error: %s\n' "$*" >&2; exit 1; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON=${PYTHON:-python3}
LOCCA_TORCH=${LOCCA_TORCH:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_VERSION=2.1.0

DIR=
TARGET_PY=
TARGET_PLATFORM=
WITH_TORCH=1
MMCV_OPS=1
NO_DEPS=()
REQ_FILES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python) TARGET_PY=${2:?--python needs a version, e.g. 3.12}; shift 2 ;;
        --platform) TARGET_PLATFORM=${2:?--platform needs a tag, e.g. manylinux_2_28_x86_64}; shift 2 ;;
        --no-torch) WITH_TORCH=0; shift ;;
        --no-deps) NO_DEPS=(--no-deps); shift ;;
        --mmcv-ops) MMCV_OPS=${2:-}; shift 2 || usage
            case "$MMCV_OPS" in 0|1) ;; *) die "--mmcv-ops takes 0 or 1, not '$MMCV_OPS'" ;; esac ;;
        --requirements) [ -f "${2:-}" ] || die "--requirements: no file '${2:-}'"
            REQ_FILES+=("$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
        -h|--help) usage ;;
        -*) printf 'unknown option %s\n' "$1" >&2; usage ;;
        *) [ -z "$DIR" ] || usage; DIR=$1; shift ;;
    esac
done
[ -n "$DIR" ] || usage
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
command -v "$PYTHON" >/dev/null 2>&1 || die "no interpreter '$PYTHON' (set PYTHON=...)"
START=$SECONDS
say() { printf '[wheelhouse %4ss] %s\n' "$((SECONDS - START))" "$*"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- the target ----------------------------------------------------------------------------
HERE_PY=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
HERE_PLATFORM=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
LOCAL=1
TARGET_ARGS=()
if { [ -n "$TARGET_PY" ] && [ "$TARGET_PY" != "$HERE_PY" ]; } || [ -n "$TARGET_PLATFORM" ]; then
    LOCAL=0
    TARGET_PY=${TARGET_PY:-$HERE_PY}
    TARGET_ARGS=(--only-binary :all: --implementation cp --python-version "$TARGET_PY")
    for p in ${TARGET_PLATFORM:-$HERE_PLATFORM}; do
        TARGET_ARGS+=(--platform "$p")
        if [[ $p =~ ^manylinux_2_([0-9]+)_(.+)$ ]]; then  # older manylinux wheels run there too
            for ((m = BASH_REMATCH[1] - 1; m >= 5; m--)); do
                TARGET_ARGS+=(--platform "manylinux_2_${m}_${BASH_REMATCH[2]}")
            done
            TARGET_ARGS+=(--platform "manylinux2014_${BASH_REMATCH[2]}"
                          --platform "manylinux1_${BASH_REMATCH[2]}")
        fi
    done
fi
TARGET_PY=${TARGET_PY:-$HERE_PY}
TARGET_PLATFORM=${TARGET_PLATFORM:-$HERE_PLATFORM}
say "wheels for Python $TARGET_PY on $TARGET_PLATFORM into $DIR$([ $LOCAL = 1 ] && echo ' (this machine)')"

# --- what goes in --------------------------------------------------------------------------
REQS="$TMP/requirements.txt"
if [ ${#REQ_FILES[@]} -gt 0 ]; then
    grep -hv -E '^\s*mmcv\b' "${REQ_FILES[@]}" > "$REQS" || true
    if grep -qE '^\s*mmcv\b' "${REQ_FILES[@]}"; then MMCV=1; else MMCV=0; fi
else
    {
        # what tools/install/install.sh builds with
        echo "wheel"; echo "ninja"; echo "setuptools<81"
        [ "$WITH_TORCH" = 1 ] && printf '%s\n' $LOCCA_TORCH
        echo "addict"; echo "yapf"  # mmcv's own dependencies
        grep -hv -E '^\s*(-r|#|$)|^mmcv' "$ROOT"/requirements/{mminstall,runtime,optional,tests}.txt
    } > "$REQS"
    MMCV=1
fi

# Building (sdists into wheels, mmcv's metadata) needs setuptools<81 (pkg_resources) and wheel:
# $PYTHON if it has them, else a scratch venv that gets them.
BUILD_PY=
build_python() {
    [ -z "$BUILD_PY" ] || return 0
    if "$PYTHON" -c "import setuptools, wheel, sys; sys.exit(int(setuptools.__version__.split('.')[0]) >= 81)" 2>/dev/null; then
        BUILD_PY=$PYTHON
    else
        say "a scratch venv with setuptools<81 and wheel for building"
        "$PYTHON" -m venv "$TMP/build-venv"
        "$TMP/build-venv/bin/python" -m pip install -q "setuptools<81" wheel
        BUILD_PY="$TMP/build-venv/bin/python"
    fi
}

# pip downloads; for another target, a package published only as an sdist is built into a
# (pure-Python) wheel here and offered to pip again, until every requirement resolves.
download() {
    local log="$TMP/pip.log" missing tries=0
    while ! "$PYTHON" -m pip download -q -d "$DIR" --find-links "$DIR" "${TARGET_ARGS[@]}" \
            "${NO_DEPS[@]}" -r "$REQS" > "$log" 2>&1; do
        missing=$(grep -oE 'No matching distribution found for [^ ]+' "$log" | awk '{print $NF}' | head -1)
        tries=$((tries + 1))
        if [ "$LOCAL" = 0 ] && [ -n "$missing" ] && [ $tries -le 20 ]; then
            say "no wheel of $missing for the target: building one here from its sdist"
            build_python
            "$BUILD_PY" -m pip wheel -q --no-deps -w "$TMP/built" "$missing" >/dev/null \
                || die "$missing has no wheel for Python $TARGET_PY/$TARGET_PLATFORM and its sdist does not build here"
            local whl
            for whl in "$TMP"/built/*.whl; do
                case "$whl" in *-none-any.whl) mv "$whl" "$DIR/" ;;
                    *) die "$missing builds a platform wheel ($(basename "$whl")): build it on the target" ;;
                esac
            done
        else
            cat "$log" >&2
            die "pip download failed (see above)"
        fi
    done
}
say "downloading the stack's wheels"
download
if [ ${#REQ_FILES[@]} -eq 0 ]; then  # the mim CLI, without its unneeded pinned dependencies
    "$PYTHON" -m pip download -q -d "$DIR" "${TARGET_ARGS[@]}" --no-deps -r "$ROOT/requirements/mim.txt" \
        2> >(grep -v "^WARNING: Location 'file://" >&2) || die "cannot download requirements/mim.txt"
fi
if [ "$LOCAL" = 1 ]; then  # sdists here become wheels, so the offline install builds nothing
    for sdist in "$DIR"/*.tar.gz "$DIR"/*.zip; do
        [ -f "$sdist" ] || continue
        case "$(basename "$sdist")" in mmcv-*) continue ;; esac
        say "building a wheel of $(basename "$sdist")"
        build_python
        "$BUILD_PY" -m pip wheel -q --no-deps -w "$DIR" "$sdist" >/dev/null && rm "$sdist"
    done
fi

# --- mmcv ----------------------------------------------------------------------------------
if [ "$MMCV" = 1 ]; then
    say "mmcv $MMCV_VERSION sdist"
    build_python
    MMCV_WITH_OPS=1 "$BUILD_PY" -m pip download -q --no-deps --no-binary :all: \
        --no-build-isolation -d "$DIR" "mmcv==$MMCV_VERSION" \
        || die "could not download the mmcv sdist"
    if [ "$MMCV_OPS" = 0 ]; then
        say "building a pure-Python mmcv wheel (no ops; published as mmcv-lite, module mmcv)"
        MMCV_WITH_OPS=0 "$BUILD_PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DIR" \
            "$DIR/mmcv-$MMCV_VERSION.tar.gz" >/dev/null
    elif [ "$LOCAL" = 1 ]; then
        printf '{"complete": false}\n' > "$DIR/wheelhouse.json"  # lets install.sh go offline
        say "installing the stack from the wheelhouse, offline, into a scratch venv (builds mmcv unless cached)"
        [ "$WITH_TORCH" = 1 ] || LOCCA_TORCH=system
        VENV="$TMP/venv" LOCCA_WHEELHOUSE="$DIR" PYTHON="$PYTHON" LOCCA_MMCV_CUDA=0 LOCCA_TORCH="$LOCCA_TORCH" \
            bash "$ROOT/tools/install/install.sh" | sed 's/^/    /'
        CACHED=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/locca_mm/wheels/mmcv-"$MMCV_VERSION"-cp"${TARGET_PY/./}"-*-cpu-*/mmcv-*.whl 2>/dev/null | head -1)
        [ -n "$CACHED" ] || die "no mmcv wheel was cached by the install"
        cp "$CACHED" "$DIR/"
    fi
fi

# --- manifest ------------------------------------------------------------------------------
"$PYTHON" - "$DIR" "$TARGET_PY" "$TARGET_PLATFORM" "$WITH_TORCH" "$MMCV_OPS" <<'PYEOF'
import hashlib, json, os, sys, time
d, py, platform, torch, ops = sys.argv[1:]
files = []
for name in sorted(os.listdir(d)):
    if name == 'wheelhouse.json':
        continue
    with open(os.path.join(d, name), 'rb') as f:
        files.append(dict(name=name, size=os.path.getsize(f.name),
                          sha256=hashlib.sha256(f.read()).hexdigest()))
manifest = dict(complete=True, python=py, platform=platform, torch=torch == '1',
                mmcv_ops=ops == '1', created=time.strftime('%Y-%m-%dT%H:%M:%S'), files=files)
with open(os.path.join(d, 'wheelhouse.json'), 'w') as f:
    json.dump(manifest, f, indent=1)
size = sum(f['size'] for f in files)
print(f'[wheelhouse] {len(files)} files, {size / 2**20:.0f} MiB in {d}')
PYEOF
say "done: on the offline machine, LOCCA_WHEELHOUSE=$DIR make install"
