"""Throughput of the data pipeline, as one data worker sees it: the ``data`` section of
``tools/benchmarks/benchmark.py`` on its own.

    python tools/benchmarks/data_benchmark.py [--quick]

Prints one JSON object, ``{"samples_per_s_per_worker": {...}}``: samples per second of
SyntheticShapes at 64 px and of 640 x 480 JPEG records resized to 224 px, through the
pretraining pipeline in this process (:mod:`locca_mm.cli.bench.data_rates`).
"""
import argparse
import json

from locca_mm.cli.bench.data_rates import data_rates


def main(argv=None):
    parser = argparse.ArgumentParser(description='Samples per second of one data worker')
    parser.add_argument('--quick', action='store_true', help='fewer samples (for tests)')
    args = parser.parse_args(argv)
    from locca_mm.utils import register_all_modules
    register_all_modules()  # the locca_mm scope, as benchmark.py runs the section
    out = dict(samples_per_s_per_worker=data_rates(args.quick))
    print(json.dumps(out, indent=1, sort_keys=True))
    return out


if __name__ == '__main__':
    main()
