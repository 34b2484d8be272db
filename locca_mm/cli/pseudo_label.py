"""What ``tools/dataset_converters/pseudo_label.py`` runs (and ``--sections pseudo_label`` of
``tools/benchmarks/benchmark.py`` times in its own process): image-text pairs labelled with
an open-vocabulary detector's boxes, into one JSONL (``--out``) or training shards
(``--out-dir``: resumable, one rank's share per process). :func:`main` takes the tool's
command line; the tool's docstring says what each option does.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from itertools import islice
from typing import List, Optional, Tuple

import mmcv
import numpy as np
import torch
from tqdm import tqdm

from locca_mm.datasets.web_shards import done_shards, write_manifest
from locca_mm.labeling import (
    MMDetGroundingDetector,
    OpenVocabDetector,
    OwlViTDetector,
    PseudoLabeler,
    read_pairs,
)
from locca_mm.labeling.shard_labeling import (
    ShardLabelingLoop,
    UnitStream,
    identity,
    is_shard_input,
    plan_units,
)

from .common import SetupError

Pair = Tuple[str, str, str]  # (image relative path, caption, source)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pseudo-label image-text pairs with an open-vocabulary detector')
    parser.add_argument('input', help='tar shards (path, glob, brace pattern or URL), a JSONL '
                        'of {"image", "caption"} or a COCO captions .json')
    parser.add_argument('--image-root', help='directory the image paths are in (JSONL / COCO)')
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument('--out-dir', help='write training shards here (resumable, distributed)')
    out.add_argument('--out', help='write one JSONL file instead (one process)')
    parser.add_argument('--samples-per-shard', type=int, default=10000,
                        help='pairs per output shard for JSONL / COCO input (default 10000)')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='DataLoader workers reading and decoding images (--out-dir)')
    parser.add_argument('--max-side', type=int,
                        help='shrink images whose longer side exceeds this before detection '
                        "(default: the detector's input size; 0: never)")
    parser.add_argument('--no-amp', action='store_true',
                        help='no bfloat16 autocast around the detector on CUDA')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='set by dist_pseudo_label.sh / slurm_pseudo_label.sh')
    parser.add_argument('--detector', choices=['owlvit', 'mmdet'], default='owlvit',
                        help='owlvit: HuggingFace OWL-ViT/OWLv2; mmdet: a grounding config')
    parser.add_argument('--model', help='OWL-ViT/OWLv2 directory or hub name (--detector owlvit)')
    parser.add_argument('--config', help='mmdet config file (--detector mmdet)')
    parser.add_argument('--checkpoint', help='mmdet checkpoint file (--detector mmdet)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='keep boxes scoring at least this (default 0.3, as in the paper)')
    parser.add_argument('--nms-iou', type=float, default=0.5,
                        help='class-agnostic NMS IoU threshold; 1 disables NMS')
    parser.add_argument('--max-n', type=int, default=3, help='longest query n-gram in words')
    parser.add_argument('--categories',
                        help='queries added to every caption: a file with one per line, '
                        'or a comma-separated list')
    parser.add_argument('--max-queries', type=int, default=64, help='queries per image, at most')
    parser.add_argument('--max-regions', type=int, default=32, help='regions per image, at most')
    parser.add_argument('--batch-size', type=int, default=8, help='images per detector call')
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cuda:0')
    parser.add_argument('--limit', type=int,
                        help='label only the first N pairs (JSONL / COCO) or shards (tar input)')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='skip (and count) missing or unreadable images instead of stopping')
    return parser.parse_args(argv)


def check_args(args) -> None:
    """Reject bad values before anything is loaded."""
    if args.out and is_shard_input(args.input):
        raise SetupError('tar shard input writes shards: use --out-dir DIR, not --out')
    if not is_shard_input(args.input):
        if not osp.isfile(args.input):
            raise SetupError(f'pairs file not found: {args.input}')
        if not args.image_root or not osp.isdir(args.image_root):
            raise SetupError(f'--image-root is not a directory: {args.image_root} (JSONL and '
                             'COCO input name image files relative to it)')
    if args.num_workers < 0 or (args.max_side is not None and args.max_side < 0):
        raise SetupError('--num-workers and --max-side must be >= 0')
    for name in ('max_n', 'max_queries', 'max_regions', 'batch_size', 'limit',
                 'samples_per_shard'):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SetupError(f'--{name.replace("_", "-")} must be >= 1, got {value}')
    if not 0 <= args.score_thr <= 1:
        raise SetupError(f'--score-thr must be in [0, 1], got {args.score_thr}')
    if args.nms_iou <= 0:
        raise SetupError(f'--nms-iou must be > 0, got {args.nms_iou}')
    if args.detector == 'owlvit' and not args.model:
        raise SetupError('--detector owlvit needs --model (a directory or hub name)')
    if args.detector == 'mmdet':
        for name in ('config', 'checkpoint'):
            path = getattr(args, name)
            if not path or not osp.isfile(path):
                raise SetupError(f'--detector mmdet needs --{name} FILE; not found: {path}')


def parse_categories(value: Optional[str]) -> List[str]:
    """Categories from a file (one per line, blank lines ignored) or a comma list."""
    if not value:
        return []
    if osp.isfile(value):
        with open(value, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]
    return [c.strip() for c in value.split(',') if c.strip()]


def load_pairs(args) -> Tuple[List[Pair], int]:
    """The pairs to label and how many were skipped because their image is missing.

    Missing files are found here, before the detector loads, so a typo in
    ``--image-root`` costs seconds, not a model load.
    """
    try:
        pairs = list(islice(read_pairs(args.input), args.limit))
    except (OSError, ValueError) as e:
        raise SetupError(str(e)) from e
    found = [osp.isfile(osp.join(args.image_root, image)) for image, _, _ in pairs]
    missing = [pair for pair, ok in zip(pairs, found) if not ok]
    if missing and not args.skip_invalid:
        image, _, source = missing[0]
        more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        raise SetupError(f'image not found: {osp.join(args.image_root, image)} '
                         f'({source}){more}; --skip-invalid skips missing images')
    return [pair for pair, ok in zip(pairs, found) if ok], len(missing)


def build_detector(args) -> OpenVocabDetector:
    """The detector named by ``--detector``; a load failure is a one-line error."""
    try:
        if args.detector == 'owlvit':
            return OwlViTDetector(args.model, device=args.device)
        return MMDetGroundingDetector(args.config, args.checkpoint, device=args.device)
    except (ImportError, OSError, ValueError) as e:
        what = args.model if args.detector == 'owlvit' else args.config
        raise SetupError(f'cannot load the {args.detector} detector {what}: '
                         f'{str(e).strip().splitlines()[0]}') from e


def read_image(path: str) -> Optional[np.ndarray]:
    """``[H, W, 3]`` RGB uint8, or None if the file cannot be decoded.

    mmcv decodes it as the training pipeline's ``LoadImageFromFile`` does
    (EXIF orientation applied), so the boxes are in the frame training sees.
    """
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError:
        return None
    image = mmcv.imfrombytes(content, flag='color', channel_order='bgr')
    return None if image is None else mmcv.bgr2rgb(image)


def label_batches(labeler: PseudoLabeler, pairs: List[Pair], args,
                  out_file) -> Tuple[int, int, int]:
    """Label ``pairs`` batch by batch into ``out_file``: (images, regions, skipped)."""
    num_images = num_regions = skipped = 0
    with tqdm(total=len(pairs), unit='img', file=sys.stderr, dynamic_ncols=True) as progress:
        for start in range(0, len(pairs), args.batch_size):
            batch, images = [], []
            for pair in pairs[start:start + args.batch_size]:
                path = osp.join(args.image_root, pair[0])
                image = read_image(path)
                if image is None:
                    if not args.skip_invalid:
                        raise SetupError(f'cannot read image {path} ({pair[2]}); '
                                         '--skip-invalid skips unreadable images')
                    skipped += 1
                    continue
                batch.append(pair)
                images.append(image)
            if batch:
                regions = labeler.label(images, [caption for _, caption, _ in batch])
                for (image_path, caption, _), image_regions in zip(batch, regions):
                    record = dict(image=image_path, caption=caption, regions=image_regions)
                    out_file.write(json.dumps(record, ensure_ascii=False) + '\n')
                    num_images += 1
                    num_regions += len(image_regions)
            progress.update(len(pairs[start:start + args.batch_size]))
    return num_images, num_regions, skipped


def build_labeler(args, device: str) -> PseudoLabeler:
    """The detector and the query/filter settings of the command line."""
    args.device = device
    return PseudoLabeler(
        build_detector(args), score_thr=args.score_thr, nms_iou=args.nms_iou, max_n=args.max_n,
        categories=parse_categories(args.categories), max_queries=args.max_queries,
        max_regions=args.max_regions)


def main_jsonl(args):
    """``--out OUT.jsonl``: one process, one file, written when the run finishes."""
    started = time.time()
    pairs, skipped = load_pairs(args)
    labeler = build_labeler(args, args.device)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.out + '.tmp'
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            num_images, num_regions, unreadable = label_batches(labeler, pairs, args, f)
        os.replace(tmp, args.out)
    finally:
        if osp.exists(tmp):  # a failed run leaves no partial output behind
            os.remove(tmp)
    skipped += unreadable
    mean = num_regions / num_images if num_images else 0.0
    print(f'pseudo_label: {num_images} images, {num_regions} regions ({mean:.2f} per image), '
          f'{skipped} skipped, {time.time() - started:.1f} s -> {args.out}')
    return num_images, num_regions, skipped


def setup_dist(args) -> Tuple[int, int, str]:
    """(rank, world size, device) of this process; the process group for ``--launcher``."""
    from mmengine.dist import get_dist_info, init_dist
    device = args.device
    if args.launcher != 'none':
        cuda = device.startswith('cuda') and torch.cuda.is_available()
        init_dist(args.launcher, backend='nccl' if cuda else 'gloo')
        if cuda and device == 'cuda':
            device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()}'
    rank, world = get_dist_info()
    return rank, world, device


def label_rank(args, units, rank: int, device: str):
    """Label this rank's unfinished units into ``--out-dir``; returns the loop (totals)."""
    labeler = build_labeler(args, device)
    max_side = labeler.detector.input_size if args.max_side is None else args.max_side
    stream = UnitStream(units, args.image_root or '', max_side or None)
    loader = torch.utils.data.DataLoader(
        stream, batch_size=None, num_workers=min(args.num_workers, len(units)),
        collate_fn=identity, prefetch_factor=4 if args.num_workers else None)
    with tqdm(unit='img', desc=f'rank {rank}', position=rank, file=sys.stderr,
              dynamic_ncols=True) as bar:
        loop = ShardLabelingLoop(labeler, units, args.out_dir, batch_size=args.batch_size,
                                 skip_invalid=args.skip_invalid, amp=not args.no_amp,
                                 progress=bar.update)
        loop.run(loader)
    return loop


def gather_totals(totals: dict, failed: list, world: int) -> Tuple[dict, list]:
    """Sum the ranks' counts and collect their failed shards (all ranks get the result)."""
    if world == 1:
        return dict(totals), list(failed)
    from mmengine.dist import all_gather_object
    everything = all_gather_object((dict(totals), list(failed)))
    summed, all_failed = {}, []
    for counts, fails in everything:
        for k, v in counts.items():
            summed[k] = summed.get(k, 0) + v
        all_failed += fails
    return summed, all_failed


def main_shards(args):
    """``--out-dir DIR``: this rank's shards, then (rank 0) the manifest and the summary."""
    started = time.time()
    rank, world, device = setup_dist(args)
    units = plan_units(args.input, args.samples_per_shard, args.limit)
    mine = units[rank::world]
    done = done_shards(args.out_dir)
    todo = [u for u in mine if u.name not in done]
    os.makedirs(args.out_dir, exist_ok=True)
    totals, failed = {}, []
    if todo:
        loop = label_rank(args, todo, rank, device)
        totals, failed = loop.totals, loop.failed
    totals = dict(totals, already_done=len(mine) - len(todo), units=len(mine))
    totals, failed = gather_totals(totals, failed, world)
    seconds = time.time() - started
    if rank == 0:
        write_manifest(args.out_dir, failed=dict(failed))
        n = totals.get('images', 0)
        print(f'pseudo_label: {totals.get("units", 0)} shards ({totals.get("shards", 0)} '
              f'labelled, {totals.get("already_done", 0)} already done, {len(failed)} failed), '
              f'{n} images, {totals.get("regions", 0)} regions '
              f'({totals.get("regions", 0) / max(n, 1):.2f} per image), '
              f'{totals.get("skipped", 0)} skipped, {seconds:.1f} s, '
              f'{n / max(seconds, 1e-9):.2f} images/s on {world} process(es) -> {args.out_dir}')
        for name, error in failed:
            print(f'pseudo_label: failed shard {name}: {error}', file=sys.stderr)
    return totals, failed


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    return main_jsonl(args) if args.out else main_shards(args)

