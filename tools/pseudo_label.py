"""Label image–text pairs with regions: ``python tools/pseudo_label.py PAIRS --out OUT.jsonl``.

The paper's data recipe: an open-vocabulary detector looks for the caption's
n-grams (and ``--categories``) in each image; boxes scoring ≥ ``--score-thr``
become the image's regions. ``PAIRS`` is a JSONL of ``{"image", "caption"}``
records or a COCO captions ``.json``; the output is the JSONL the datasets
read, one line per image::

    {"image": "rel/path.jpg", "caption": "...", "regions": [{"bbox": [x1, y1, x2, y2],
     "text": "...", "score": 0.87}]}

Detectors: ``--detector owlvit --model DIR_OR_HUB_NAME`` (OWL-ViT or OWLv2,
HuggingFace transformers) or ``--detector mmdet --config CFG --checkpoint CKPT``
(an mmdet GroundingDINO/GLIP config). The output appears only when the run
finishes (written to ``OUT.tmp``, then renamed). A missing or unreadable image
stops the run with its path and the pair's line, before the detector is loaded
when the file is missing; ``--skip-invalid`` skips and counts such images.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from itertools import islice
from typing import List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from locca_mm.apis import (  # noqa: E402
    MMDetGroundingDetector,
    OpenVocabDetector,
    OwlViTDetector,
    PseudoLabeler,
    read_pairs,
)
from locca_mm.utils.cli import SetupError, run_cli  # noqa: E402

Pair = Tuple[str, str, str]  # (image relative path, caption, source)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pseudo-label image-text pairs with an open-vocabulary detector')
    parser.add_argument('pairs', help='JSONL of {"image", "caption"} or a COCO captions .json')
    parser.add_argument('--image-root', required=True, help='directory the image paths are in')
    parser.add_argument('--out', required=True, help='output JSONL file')
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
    parser.add_argument('--limit', type=int, help='label only the first N pairs')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='skip (and count) missing or unreadable images instead of stopping')
    return parser.parse_args(argv)


def check_args(args) -> None:
    """Reject bad values before anything is loaded."""
    if not osp.isfile(args.pairs):
        raise SetupError(f'pairs file not found: {args.pairs}')
    if not osp.isdir(args.image_root):
        raise SetupError(f'--image-root is not a directory: {args.image_root}')
    for name in ('max_n', 'max_queries', 'max_regions', 'batch_size', 'limit'):
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
        pairs = list(islice(read_pairs(args.pairs), args.limit))
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


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    started = time.time()
    pairs, skipped = load_pairs(args)
    labeler = PseudoLabeler(
        build_detector(args), score_thr=args.score_thr, nms_iou=args.nms_iou, max_n=args.max_n,
        categories=parse_categories(args.categories), max_queries=args.max_queries,
        max_regions=args.max_regions)

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


if __name__ == '__main__':
    run_cli(main)
