#!/usr/bin/env bash
# Distributed pseudo-labelling with torchrun:
#   tools/dataset_converters/dist_pseudo_label.sh NPROC INPUT --out-dir DIR \
#       [pseudo_label.py options]
# Rank r of NPROC labels input shards r, r + NPROC, ...; rerun the same command to resume.
# On a machine without CUDA, NPROC is the number of CPU processes (gloo); with CUDA pass
# --device cuda (each rank takes its LOCAL_RANK's GPU). Multi-node: NNODES, NODE_RANK,
# MASTER_ADDR, PORT (see tools/dist_run.sh).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 NPROC INPUT --out-dir DIR [pseudo_label.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/../dist_run.sh" dataset_converters/pseudo_label.py "$1" "${@:2}"
