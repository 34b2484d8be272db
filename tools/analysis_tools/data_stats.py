"""Statistics of a labelled corpus: ``python tools/analysis_tools/data_stats.py SHARDS``.

``SHARDS``: training shards (a path, glob, brace pattern or fsspec URL), as
``tools/dataset_converters/pseudo_label.py --out-dir`` and
``tools/dataset_converters/make_shards.py`` write them.
Only the ``{key}.json`` members are read (no image is decoded). Prints a table
of regions per image, the region score histogram, the box size histogram (the
square root of the box's share of the image area, for records that carry
``width``/``height``) and the share of images with no region scoring at least
``--score-thr``; writes the same as JSON and a picture (three histograms) into
``--out-dir``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List

import numpy as np

from locca_mm.cli import SetupError, run_cli
from locca_mm.datasets.jsonl import loads_line
from locca_mm.datasets.shards import _open, expand_shards, index_shard

SCORE_BINS = np.linspace(0, 1, 11)
SIZE_BINS = np.array([0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Statistics of LocCa training shards')
    parser.add_argument('shards', help='tar shards: path, glob, brace pattern or URL')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='an image "has a region" if one scores at least this (0.3)')
    parser.add_argument('--out-dir', default='work_dirs/data_stats',
                        help='where data_stats.json and data_stats.png go')
    parser.add_argument('--max-regions', type=int, default=16,
                        help='the regions-per-image histogram pools counts >= this')
    return parser.parse_args(argv)


def read_records(paths: List[str]):
    """Every ``{key}.json`` record of the shards, as a dict (shard order)."""
    for path in paths:
        samples, problems = index_shard(path)
        if problems:
            print(f'data_stats: {path}: {len(problems)} problem(s), first: {problems[0]}',
                  file=sys.stderr)
        with _open(path) as f:
            for key, _, _, offset, size in samples:
                f.seek(offset)
                yield loads_line(f.read(size), f'{osp.basename(path)}:{key}')


def collect(records, score_thr: float) -> Dict[str, list]:
    """Per-image region counts, every region's score and relative size."""
    counts, scores, sizes, hits = [], [], [], []
    for record in records:
        regions = record.get('regions', []) if isinstance(record, dict) else []
        counts.append(len(regions))
        scores += [float(r.get('score', 1.0)) for r in regions]
        hits.append(any(float(r.get('score', 1.0)) >= score_thr for r in regions))
        width, height = record.get('width'), record.get('height')
        if width and height:
            for r in regions:
                x1, y1, x2, y2 = r['bbox']
                sizes.append(float(np.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0) / (width * height))))
    return dict(counts=counts, scores=scores, sizes=sizes, hits=hits)


def summarize(data: Dict[str, list], score_thr: float, max_regions: int) -> dict:
    """The numbers the table, the JSON and the picture show."""
    counts = np.asarray(data['counts'], dtype=np.int64)
    if not len(counts):
        raise SetupError('no records in the shards')
    pooled = np.minimum(counts, max_regions)
    return dict(
        images=int(len(counts)), regions=int(counts.sum()),
        regions_per_image=dict(mean=float(counts.mean()), median=float(np.median(counts)),
                               p90=float(np.percentile(counts, 90)), max=int(counts.max())),
        regions_histogram=np.bincount(pooled, minlength=max_regions + 1).tolist(),
        score_bins=SCORE_BINS.tolist(),
        score_histogram=np.histogram(data['scores'], SCORE_BINS)[0].tolist(),
        size_bins=SIZE_BINS.tolist(),
        size_histogram=np.histogram(np.minimum(data['sizes'], 1.0), SIZE_BINS)[0].tolist(),
        boxes_sized=len(data['sizes']), score_thr=score_thr,
        share_without_region=float(1 - np.mean(data['hits'])))


def print_table(stats: dict) -> None:
    per = stats['regions_per_image']
    print('| images | regions | per image: mean / median / p90 / max | '
          f'no region >= {stats["score_thr"]} |')
    print('|---|---|---|---|')
    print(f'| {stats["images"]} | {stats["regions"]} | {per["mean"]:.2f} / '
          f'{per["median"]:.1f} / {per["p90"]:.1f} / {per["max"]} | '
          f'{100 * stats["share_without_region"]:.1f}% |')
    for name, bins in (('score', 'score_bins'), ('size', 'size_bins')):
        edges, hist = stats[bins], stats[f'{name}_histogram']
        cells = ', '.join(f'[{lo:.2f}, {hi:.2f}): {n}' for lo, hi, n in
                          zip(edges[:-1], edges[1:], hist))
        print(f'{name} histogram: {cells}')


def plot(stats: dict, path: str) -> None:
    """Three bar charts: regions per image, scores, box sizes."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    hist = stats['regions_histogram']
    axes[0].bar(range(len(hist)), hist)
    axes[0].set(title='regions per image (last bar: >=)', xlabel='regions', ylabel='images')
    for ax, name, label in ((axes[1], 'score', 'region score'),
                            (axes[2], 'size', 'sqrt(box area / image area)')):
        edges = np.asarray(stats[f'{name}_bins'])
        ax.bar(edges[:-1], stats[f'{name}_histogram'], width=np.diff(edges), align='edge',
               edgecolor='white')
        ax.set(title=f'{name} histogram', xlabel=label, ylabel='regions')
    fig.suptitle(f'{stats["images"]} images, {stats["regions"]} regions, '
                 f'{100 * stats["share_without_region"]:.1f}% without a region >= '
                 f'{stats["score_thr"]}')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    paths = expand_shards(args.shards)
    missing = [p for p in paths if '://' not in p and not osp.isfile(p)]
    if not paths or missing:
        raise SetupError(f'tar shard not found: {missing[0] if missing else args.shards}')
    stats = summarize(collect(read_records(paths), args.score_thr), args.score_thr,
                      args.max_regions)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'data_stats.json'), 'w', encoding='utf-8') as f:
        json.dump(stats, f, indent=1)
    plot(stats, osp.join(args.out_dir, 'data_stats.png'))
    print_table(stats)
    print(f'data_stats: {len(paths)} shards -> {args.out_dir}/data_stats.{{json,png}}')
    return stats


if __name__ == '__main__':
    run_cli(main)
