"""Pseudo-labelling throughput: the ``pseudo_label`` section of
``tools/benchmarks/benchmark.py`` on its own.

    python tools/benchmarks/pseudo_label_benchmark.py [--quick]

Times ``tools/dataset_converters/pseudo_label.py --out-dir`` end to end in this process
(tar shards of 640 x 480 JPEGs in, training shards out) with randomly initialised OWL-ViT
detectors (``tiny``, and without ``--quick`` OWL-ViT B/32 at 768 px), and estimates the
GPU-days to label 1 B pairs with OWL-ViT B/16 at 768 px. Prints one JSON object,
``{"pseudo_label": {...}}`` (:mod:`locca_mm.cli.bench.pseudo_label_rates`).
"""
import argparse
import contextlib
import json
import os
import sys

from locca_mm.cli.bench.pseudo_label_rates import pseudo_label_rates


def main(argv=None):
    parser = argparse.ArgumentParser(description='Images per second of the labelling tool')
    parser.add_argument('--quick', action='store_true', help='the tiny detector only (tests)')
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # stdout holds the JSON only
        out = dict(pseudo_label=pseudo_label_rates(args.quick))
    print(json.dumps(out, indent=1, sort_keys=True))
    return out


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    main()
