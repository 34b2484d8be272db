"""Sharded, resumable pseudo-labelling: input units in, one LocCa training shard out per unit.

``tools/dataset_converters/pseudo_label.py INPUT --out-dir DIR`` (and its ``dist_``/``slurm_``
launchers) runs this. The input is split into *units*: each img2dataset /
WebDataset tar shard is one unit, a JSONL / COCO captions file is cut into
units of ``samples_per_shard`` pairs. Unit ``NAME`` becomes ``DIR/NAME.tar``
(see :mod:`locca_mm.datasets.web_shards`), written atomically and recorded in
``DIR/manifest/NAME.json`` with its counts once complete, so a rerun of the
same command skips it.

Images are read and decoded (and shrunk to the detector's input size) in
DataLoader workers by :class:`UnitStream`, each worker taking whole units;
:class:`ShardLabelingLoop` batches each unit's images for the detector (a
batch never mixes units, so the output does not depend on worker timing),
writes the records in input order and commits the shard when its unit ends.
"""
import contextlib
import logging
import os.path as osp
import time
from collections import Counter, defaultdict
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import mmcv
import torch
from mmengine.logging import print_log
from torch.utils.data import IterableDataset, get_worker_info

from locca_mm.datasets.base import InvalidRecordError
from locca_mm.datasets.shards import IMAGE_EXTS, expand_shards
from locca_mm.datasets.web_shards import ShardWriter, WebSample, iter_web_shard, mark_done
from locca_mm.utils.config import SetupError

from .pseudo_labeler import PseudoLabeler, read_pairs

__all__ = ['LabelUnit', 'plan_units', 'UnitStream', 'ShardLabelingLoop', 'is_shard_input',
           'identity']


class LabelUnit(NamedTuple):
    """One output shard's worth of input: a tar shard, or a run of (image, caption) pairs."""

    name: str  # output shard name, without ``.tar``
    path: str = ''  # the input tar shard ('' for pairs)
    pairs: Tuple = ()  # ((image, caption, source, index), ...) for JSONL / COCO input


def is_shard_input(spec: str) -> bool:
    """Whether ``spec`` names tar shards (a ``.tar`` path, glob, brace pattern or URL)."""
    return spec.split('?')[0].endswith('.tar')


def plan_units(spec: str, samples_per_shard: int = 10000,
               limit: Optional[int] = None) -> List[LabelUnit]:
    """The units of an input: one per tar shard, or ``samples_per_shard`` pairs each.

    Raises:
        SetupError: no shard matches, two shards share a name, or the pairs
            file cannot be read.
    """
    if is_shard_input(spec):
        paths = expand_shards(spec)
        if not any('://' in p or osp.isfile(p) for p in paths):
            raise SetupError(f'no tar shard matches {spec}')
        names = [osp.basename(p)[:-len('.tar')] for p in paths]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SetupError(f'input shards share the name(s) {sorted(dup)}: output shards '
                             'are named after their input')
        return [LabelUnit(n, p) for n, p in zip(names, paths)][:limit]
    try:
        pairs = [(img, cap, src, i) for i, (img, cap, src) in enumerate(read_pairs(spec))]
    except (OSError, ValueError) as e:
        raise SetupError(str(e)) from e
    pairs = pairs[:limit]
    stem = osp.splitext(osp.basename(spec))[0]
    return [LabelUnit(f'{stem}-{k // samples_per_shard:06d}', '',
                      tuple(pairs[k:k + samples_per_shard]))
            for k in range(0, len(pairs), samples_per_shard)]


def _read_pair(image_root: str, pair: Tuple) -> WebSample:
    image, caption, source, index = pair
    path = osp.join(image_root, image)
    ext = osp.splitext(image)[1].lstrip('.').lower()
    if ext not in IMAGE_EXTS:
        raise InvalidRecordError(f'{source}: image {image!r} is not one of {IMAGE_EXTS} '
                                 '(the extensions ShardedTarDataset reads)')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        raise InvalidRecordError(f'{source}: image not found: {path}') from None
    return WebSample(f'{index:09d}', data, ext, caption, dict(image=image), source)


class UnitStream(IterableDataset):
    """Decoded samples of the units, unit by unit, for a ``DataLoader(batch_size=None)``.

    Worker ``w`` of ``K`` takes units ``w, w + K, ...``. Yields dicts with
    ``kind``: ``'sample'`` (``image`` RGB uint8, possibly shrunk so its longer
    side is ``max_side``, ``scale`` = (sx, sy) of that shrink, the original
    ``bytes``, ``width``/``height``, ...), ``'bad'`` (a sample left out:
    ``problem``), ``'end'`` (the unit is complete) or ``'failed'`` (the unit
    cannot be read: ``error``). Every item has ``unit`` (its index).
    """

    def __init__(self, units: Sequence[LabelUnit], image_root: str = '',
                 max_side: Optional[int] = None):
        self.units = list(units)
        self.image_root = image_root
        self.max_side = max_side

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for i in range(worker, len(self.units), workers):
            yield from self._unit(i)

    def _samples(self, unit: LabelUnit, problems: List[str]) -> Iterator[WebSample]:
        if unit.path:
            yield from iter_web_shard(unit.path, skip_invalid=True, problems=problems)
            return
        for pair in unit.pairs:
            try:
                yield _read_pair(self.image_root, pair)
            except InvalidRecordError as e:
                problems.append(str(e))

    def _unit(self, i: int) -> Iterator[dict]:
        problems: List[str] = []
        try:
            for sample in self._samples(self.units[i], problems):
                yield from (dict(kind='bad', unit=i, problem=p) for p in problems)
                problems.clear()
                yield self._decode(i, sample)
        except (InvalidRecordError, OSError) as e:
            yield dict(kind='failed', unit=i, error=str(e))
            return
        yield from (dict(kind='bad', unit=i, problem=p) for p in problems)
        yield dict(kind='end', unit=i)

    def _decode(self, i: int, sample: WebSample) -> dict:
        try:
            image = mmcv.imfrombytes(sample.image, flag='color', channel_order='rgb')
        except Exception:  # noqa: BLE001 - any decoder failure is the same bad image
            image = None
        if image is None or image.ndim != 3 or min(image.shape[:2]) < 1:
            return dict(kind='bad', unit=i, problem=f'{sample.source}: the image does not decode')
        height, width = image.shape[:2]
        scale = (1.0, 1.0)
        if self.max_side and max(height, width) > self.max_side:
            ratio = self.max_side / max(height, width)
            size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
            image = mmcv.imresize(image, size, interpolation='bilinear')
            scale = (size[0] / width, size[1] / height)
        return dict(kind='sample', unit=i, key=sample.key, image=image, bytes=sample.image,
                    ext=sample.ext, caption=sample.caption, meta=sample.meta,
                    width=width, height=height, scale=scale, source=sample.source)


def _to_original(regions: List[dict], item: dict) -> List[dict]:
    """Boxes from the shrunk image back to the original's pixels (clipped, 2 decimals)."""
    sx, sy = item['scale']
    if (sx, sy) == (1.0, 1.0):
        return regions
    limits = (item['width'], item['height']) * 2
    out = []
    for r in regions:
        box = [min(max(v / s, 0.0), lim)
               for v, s, lim in zip(r['bbox'], (sx, sy, sx, sy), limits)]
        out.append(dict(r, bbox=[round(v, 2) for v in box]))
    return out


def identity(item):
    """``collate_fn`` of the loader: items pass through as they are (picklable)."""
    return item


class ShardLabelingLoop:
    """Label the stream's samples and write one shard per unit into ``out_dir``.

    Args:
        labeler (PseudoLabeler): queries, detector and filtering.
        units (list[LabelUnit]): the units the stream yields (by index).
        out_dir (str): where ``NAME.tar`` and ``manifest/NAME.json`` go.
        batch_size (int): images per detector call (within one unit).
        skip_invalid (bool): leave out (and count) bad samples and failed
            units instead of stopping with an error that names them.
        amp (bool): bfloat16 autocast around the detector on CUDA.
        progress (callable, optional): called with the number of images done.
    """

    def __init__(self, labeler: PseudoLabeler, units: Sequence[LabelUnit], out_dir: str,
                 batch_size: int = 8, skip_invalid: bool = False, amp: bool = False,
                 progress=None):
        self.labeler, self.units, self.out_dir = labeler, list(units), out_dir
        self.batch_size, self.skip_invalid = batch_size, skip_invalid
        device = getattr(labeler.detector, 'device', torch.device('cpu'))
        self.autocast = (lambda: torch.autocast('cuda', dtype=torch.bfloat16)) \
            if amp and torch.device(device).type == 'cuda' else contextlib.nullcontext
        self.progress = progress or (lambda n: None)
        self.writers: Dict[int, ShardWriter] = {}
        self.pending: Dict[int, List[dict]] = defaultdict(list)
        self.stats: Dict[int, Counter] = defaultdict(Counter)
        self.started: Dict[int, float] = {}
        self.totals = Counter()
        self.failed: List[Tuple[str, str]] = []

    def run(self, items) -> Counter:
        """Consume ``items`` (a loader over :class:`UnitStream`); returns the totals."""
        try:
            for item in items:
                getattr(self, f'_on_{item["kind"]}')(item)
        finally:
            for writer in self.writers.values():  # units left unfinished stay absent
                writer.abort()
            self.writers.clear()
        return self.totals

    def _writer(self, u: int) -> ShardWriter:
        if u not in self.writers:
            self.writers[u] = ShardWriter(osp.join(self.out_dir, f'{self.units[u].name}.tar'))
            self.started[u] = time.time()
        return self.writers[u]

    def _on_sample(self, item: dict) -> None:
        self._writer(item['unit'])
        self.pending[item['unit']].append(item)
        if len(self.pending[item['unit']]) >= self.batch_size:
            self._flush(item['unit'])

    def _on_bad(self, item: dict) -> None:
        if not self.skip_invalid:
            raise SetupError(f'{item["problem"]}; --skip-invalid skips and counts such samples')
        self.stats[item['unit']]['skipped'] += 1
        self.totals['skipped'] += 1

    def _on_end(self, item: dict) -> None:
        u = item['unit']
        self._flush(u)
        self._writer(u).commit()
        del self.writers[u]
        stats = dict(self.stats.pop(u, Counter()))
        stats.setdefault('images', 0)
        stats.setdefault('regions', 0)
        stats.setdefault('skipped', 0)
        stats['seconds'] = round(time.time() - self.started.pop(u), 3)
        stats['source'] = self.units[u].path or f'{len(self.units[u].pairs)} pairs'
        mark_done(self.out_dir, self.units[u].name, stats)
        self.totals['shards'] += 1

    def _on_failed(self, item: dict) -> None:
        u = item['unit']
        self.pending.pop(u, None)
        writer = self.writers.pop(u, None)
        if writer is not None:
            writer.abort()
        name = self.units[u].name
        if not self.skip_invalid:
            raise SetupError(f'input shard {name} failed: {item["error"]}; --skip-invalid '
                             'reports and skips a shard that cannot be read')
        self.failed.append((name, item['error']))
        self.totals['failed_shards'] += 1
        print_log(f'pseudo_label: input shard {name} skipped: {item["error"]}',
                  logger='current', level=logging.WARNING)

    def _flush(self, u: int) -> None:
        items = self.pending.pop(u, [])
        if not items:
            return
        with self.autocast():
            regions = self.labeler.label([it['image'] for it in items],
                                         [it['caption'] for it in items])
        writer = self._writer(u)
        for item, image_regions in zip(items, regions):
            image_regions = _to_original(image_regions, item)
            record = {k: item['meta'][k] for k in ('image', 'url') if k in item['meta']}
            record.update(caption=item['caption'], regions=image_regions,
                          width=item['width'], height=item['height'])
            writer.add(item['key'], item['bytes'], item['ext'], record)
            self.stats[u]['images'] += 1
            self.stats[u]['regions'] += len(image_regions)
        self.totals['images'] += len(items)
        self.totals['regions'] += sum(len(r) for r in regions)
        self.progress(len(items))

