"""Write training shards from JSONL / COCO / Visual Genome / RefCOCO / tar input.

    python tools/dataset_converters/make_shards.py INPUT --out-dir DIR --samples-per-shard N \
        [options]

``INPUT`` is one of (``--format auto`` tells them apart by name and content):

- a JSONL file (``JsonlDataset``'s records; ``--image-root``);
- a COCO captions ``.json`` (``--image-root``; ``--instances instances.json``
  adds every object as a region);
- Visual Genome ``region_descriptions.json`` (``--image-data image_data.json``,
  ``--image-root``);
- a RefCOCO ``instances.json`` (``--refs 'refs(unc).p' --split train``,
  ``--image-root`` = COCO ``train2014/``): the expressions of an image become
  its regions;
- tar shards (a path, glob or brace pattern ``pairs-{000000..000099}.tar``):
  img2dataset / WebDataset pairs (caption from ``.txt`` or ``.json``), regions
  kept when the json has them; re-sharded to ``--samples-per-shard``.

Each output shard ``DIR/PREFIX-000000.tar`` holds ``{key}.{jpg,png,...}`` (the
image file's bytes, unchanged) and ``{key}.json`` (``caption`` or
``captions``, ``regions``, ``width``/``height`` when known, ``image``: where it
came from): what ``ShardedTarDataset`` reads. The records of one image are
merged (all its captions, all its regions). Shards are written atomically and
a shard that exists is kept, so rerunning the command completes an interrupted
run. ``--rank R --world-size W`` (default: ``RANK``/``WORLD_SIZE`` or
``SLURM_PROCID``/``SLURM_NTASKS``) writes shards R, R + W, ... only. Invalid
records stop the run naming the record; ``--skip-invalid`` skips and counts
them.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from locca_mm.cli import SetupError, run_cli
from locca_mm.datasets import (
    CocoCaptionDataset,
    InvalidRecordError,
    JsonlDataset,
    RefCOCODataset,
    VisualGenomeDataset,
)
from locca_mm.datasets.shards import IMAGE_EXTS, expand_shards
from locca_mm.datasets.web_shards import (
    ShardWriter,
    iter_web_shard,
    mark_done,
    write_manifest,
)

# A sample is read only by the rank that writes it: a callable that returns (image bytes,
# extension, json record), or None for an image skipped (counted) with --skip-invalid.
Sample = Callable[[], Optional[Tuple[bytes, str, dict]]]
FORMATS = ('auto', 'jsonl', 'coco', 'vg', 'refcoco', 'shards')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write LocCa training tar shards')
    parser.add_argument('input', help='JSONL, COCO captions / RefCOCO instances json, Visual '
                        'Genome region_descriptions.json, or tar shards')
    parser.add_argument('--out-dir', required=True, help='where the shards go')
    parser.add_argument('--samples-per-shard', type=int, default=1000,
                        help='images per output shard (default 1000)')
    parser.add_argument('--format', choices=FORMATS, default='auto')
    parser.add_argument('--image-root', help='directory the image paths are relative to')
    parser.add_argument('--instances', help='COCO instances json: objects become regions')
    parser.add_argument('--image-data', help="Visual Genome image_data.json")
    parser.add_argument('--refs', help="RefCOCO refs(unc).p / refs(umd).p")
    parser.add_argument('--split', default='train', help='RefCOCO split (default train)')
    parser.add_argument('--prefix', help='output shard name prefix (default: the input name)')
    parser.add_argument('--rank', type=int, help='this process writes shards rank, rank + W, ...')
    parser.add_argument('--world-size', type=int, help='number of writing processes (W)')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='skip (and count) invalid records and missing images')
    return parser.parse_args(argv)


def detect_format(args) -> str:
    """The input format: ``--format``, else from the name and the file's first bytes."""
    if args.format != 'auto':
        return args.format
    path = args.input
    if path.split('?')[0].endswith('.tar'):
        return 'shards'
    if path.endswith('.jsonl'):
        return 'jsonl'
    if args.refs:
        return 'refcoco'
    if args.image_data:
        return 'vg'
    if path.endswith('.json'):
        return 'coco'
    raise SetupError(f'cannot tell the format of {path}: pass --format')


def rank_and_world(args) -> Tuple[int, int]:
    """``--rank``/``--world-size``, else torchrun's or slurm's environment, else (0, 1)."""
    env = os.environ
    world = args.world_size or int(env.get('WORLD_SIZE', env.get('SLURM_NTASKS', 1)))
    rank = args.rank if args.rank is not None else int(env.get('RANK', env.get('SLURM_PROCID', 0)))
    if world < 1 or not 0 <= rank < world:
        raise SetupError(f'rank {rank} of world size {world}: need 0 <= rank < world size')
    return rank, world


def _dataset(fmt: str, args):
    """The dataset class that reads ``fmt``, built without loading images."""
    common = dict(ann_file=args.input, data_prefix=dict(img_path=args.image_root or ''),
                  skip_invalid=args.skip_invalid, lazy_init=True, serialize_data=False)
    if fmt == 'jsonl':
        return JsonlDataset(**common)
    if fmt == 'coco':
        return CocoCaptionDataset(instances_file=args.instances, **common)
    if fmt == 'vg':
        if not args.image_data:
            raise SetupError('Visual Genome input needs --image-data image_data.json')
        return VisualGenomeDataset(image_data_file=args.image_data, **common)
    if not args.refs:
        raise SetupError('RefCOCO input needs --refs refs(unc).p (and --split)')
    return RefCOCODataset(split_file=args.refs, split=args.split, **common)


def _merge(infos: List[dict]) -> Dict[str, dict]:
    """The data infos grouped by image: captions (no repeats) and regions of each."""
    images: Dict[str, dict] = {}
    for info in infos:
        entry = images.setdefault(info['img_path'], dict(captions=[], regions=[], info=info))
        entry['captions'] += [c for c in info.get('captions', []) if c not in entry['captions']]
        regions = info['regions']
        for box, text, score in zip(regions['bboxes'], regions['texts'], regions['scores']):
            entry['regions'].append(dict(bbox=[round(float(v), 2) for v in box], text=text,
                                         score=round(float(score), 4)))
    return images


def _record(path: str, entry: dict, image_root: str) -> dict:
    """The shard json of one image."""
    record = dict(image=osp.relpath(path, image_root) if image_root else path)
    caps = entry['captions']
    if len(caps) == 1:
        record['caption'] = caps[0]
    elif caps:
        record['captions'] = caps
    record['regions'] = entry['regions']
    for k in ('width', 'height'):
        if entry['info'].get(k):
            record[k] = entry['info'][k]
    return record


def _reader(path: str, entry: dict, args, counts: dict) -> Sample:
    def read():
        ext = osp.splitext(path)[1].lstrip('.').lower()
        try:
            if ext not in IMAGE_EXTS:
                raise OSError(f'extension .{ext} is not one of {IMAGE_EXTS}')
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as e:
            if not args.skip_invalid:
                raise SetupError(f'cannot read image {path} ({entry["info"]["source"]}): {e}; '
                                 '--skip-invalid skips it') from None
            counts['invalid'] += 1
            return None
        return data, ext, _record(path, entry, args.image_root or '')
    return read


def dataset_samples(fmt: str, args, counts: dict) -> Iterator[Sample]:
    """A reader of (image bytes, extension, record) for every image of an annotation file."""
    dataset = _dataset(fmt, args)
    try:
        infos = dataset.load_data_list()
    except (InvalidRecordError, FileNotFoundError, ValueError) as e:
        raise SetupError(str(e)) from e
    counts['invalid'] += dataset.num_invalid
    for path, entry in _merge(infos).items():
        yield _reader(path, entry, args, counts)


def shard_samples(args, counts: dict) -> Iterator[Sample]:
    """A reader of (image bytes, extension, record) for every pair of the input tar shards."""
    paths = expand_shards(args.input)
    if not paths:
        raise SetupError(f'no tar shard matches {args.input}')
    for path in paths:
        problems: List[str] = []
        try:
            for sample in iter_web_shard(path, args.skip_invalid, problems):
                record = {k: v for k, v in sample.meta.items() if k not in ('caption', 'text')}
                record = dict(image=sample.source, caption=sample.caption, **{
                    k: v for k, v in record.items() if k != 'image'})
                yield (lambda item=(sample.image, sample.ext, record): item)
        except InvalidRecordError as e:
            raise SetupError(str(e)) from e
        counts['invalid'] += len(problems)


def write_shards(samples: Iterator[Sample], args, prefix: str, rank: int, world: int) -> dict:
    """Write this rank's shards (existing ones are kept); returns the counts."""
    counts = dict(images=0, shards=0, kept=0)
    k = writer = None
    for index, read in enumerate(samples):
        shard = index // args.samples_per_shard
        if shard % world != rank:
            continue
        if shard != k:
            if writer is not None:
                _finish(writer, args.out_dir, counts)
            k, writer = shard, _open_shard(args.out_dir, f'{prefix}-{shard:06d}')
            counts['kept'] += writer is None
        sample = read() if writer is not None else None
        if sample is not None:
            writer.add(f'{index:09d}', *sample)
            counts['images'] += 1
    if writer is not None:
        _finish(writer, args.out_dir, counts)
    return counts


def _open_shard(out_dir: str, name: str) -> Optional[ShardWriter]:
    """A writer for ``NAME.tar``, or None when the shard is there already (complete)."""
    path = osp.join(out_dir, f'{name}.tar')
    return None if osp.exists(path) else ShardWriter(path)


def _finish(writer: ShardWriter, out_dir: str, counts: dict) -> None:
    name = osp.basename(writer.commit())[:-len('.tar')]
    mark_done(out_dir, name, dict(images=writer.num_samples))
    counts['shards'] += 1


def main(argv=None):
    args = parse_args(argv)
    if args.samples_per_shard < 1:
        raise SetupError(f'--samples-per-shard must be >= 1, got {args.samples_per_shard}')
    fmt = detect_format(args)
    if fmt != 'shards' and not osp.isfile(args.input):
        raise SetupError(f'input not found: {args.input}')
    rank, world = rank_and_world(args)
    started = time.time()
    prefix = args.prefix or osp.splitext(osp.basename(args.input.split('{')[0]))[0].rstrip('-_')
    os.makedirs(args.out_dir, exist_ok=True)
    counts = dict(invalid=0)
    samples = shard_samples(args, counts) if fmt == 'shards' else \
        dataset_samples(fmt, args, counts)
    written = write_shards(samples, args, prefix or 'shard', rank, world)
    written['invalid'] = counts['invalid']
    if world == 1:
        write_manifest(args.out_dir)
    print(f'make_shards: {written["images"]} images in {written["shards"]} new shards '
          f'({written["kept"]} already there), {written["invalid"]} invalid skipped, '
          f'rank {rank} of {world}, {time.time() - started:.1f} s -> {args.out_dir}')
    print(json.dumps(written))
    return written


if __name__ == '__main__':
    run_cli(main)
