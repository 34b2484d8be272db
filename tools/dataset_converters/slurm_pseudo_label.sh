#!/usr/bin/env bash
# Pseudo-labelling on slurm:
#   tools/dataset_converters/slurm_pseudo_label.sh PARTITION JOB_NAME INPUT --out-dir DIR \
#       [pseudo_label.py options]
# GPUS (total tasks, default 8), GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON as for
# tools/slurm_train.sh. Pass --device cuda to run each task on its GPU. Resubmit to resume.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME INPUT --out-dir DIR [pseudo_label.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/../slurm_run.sh" "$1" "$2" dataset_converters/pseudo_label.py "${@:3}"
