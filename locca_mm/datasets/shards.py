"""ShardedTarDataset: WebDataset-layout tar shards read by offset, as a map-style dataset.

Why map-style over an offset index rather than a streaming ``IterableDataset``
(the ``webdataset`` library): mmengine's samplers, DDP sharding, exact resume
(the sampler skips what was trained) and evaluation all assume a map-style
dataset with a length. Reading one sample is two ranged reads (its image and
its json) from a shard, which local files and fsspec URLs (s3://, gs://,
https://, ...) both serve. The index is built once by reading the tar headers
(no data), and can be cached next to the shards.

Nothing is ever extracted to disk, so member names cannot write anywhere; a
member whose name is absolute or climbs out with ``..``, or that is not a
regular file (a link, a device), is still refused as a sign of a hostile or
broken shard.
"""
import json
import logging
import os
import os.path as osp
import re
import tarfile
from glob import glob
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from locca_mm.registry import DATASETS

from .base import LocCaBaseDataset, invalid
from .jsonl import loads_line, parse_record

IMAGE_EXTS = ('jpg', 'jpeg', 'png', 'webp')
_BRACE = re.compile(r'\{(\d+)\.\.(\d+)\}')


def expand_shards(shards: Union[str, Sequence[str]]) -> List[str]:
    """Shard paths from a list, a glob, or a brace range (``data-{000..099}.tar``)."""
    if not isinstance(shards, str):
        out = []
        for s in shards:
            out += expand_shards(s)
        return out
    m = _BRACE.search(shards)
    if m:
        lo, hi = m.group(1), m.group(2)
        width = len(lo)
        return [p for i in range(int(lo), int(hi) + 1)
                for p in expand_shards(shards[:m.start()] + str(i).zfill(width)
                                       + shards[m.end():])]
    if '://' not in shards and any(c in shards for c in '*?['):
        return sorted(glob(shards))
    return [shards]


def _open(path: str):
    if '://' in path:
        import fsspec
        return fsspec.open(path, 'rb').open()
    return open(path, 'rb')


def _unsafe_name(name: str) -> bool:
    parts = name.replace('\\', '/').split('/')
    return name.startswith(('/', '\\')) or '..' in parts or bool(re.match(r'^[A-Za-z]:', name))


def member_key(name: str) -> Optional[Tuple[str, str]]:
    """``(key, extension)`` of a WebDataset member name (the key runs up to the first dot
    of the file name: ``a/b.seg.jpg`` -> ``('a/b', 'seg.jpg')``), or None without a dot."""
    folder, _, base = name.rpartition('/')
    stem, dot, ext = base.partition('.')
    if not dot:
        return None
    return (f'{folder}/{stem}' if folder else stem), ext.lower()


def index_shard(path: str) -> Tuple[List[Tuple[str, int, int, int, int]], List[str]]:
    """Read a shard's headers: its samples and the problems found.

    Returns:
        (samples, problems): samples are ``(key, img_offset, img_size,
        json_offset, json_size)`` for every key with an image and a json
        member; problems name unsafe members and incomplete samples.
    """
    members: Dict[str, Dict[str, Tuple[int, int]]] = {}
    problems: List[str] = []
    name = osp.basename(path)
    try:
        with _open(path) as f, tarfile.open(fileobj=f, mode='r:') as tar:
            for info in tar:
                if _unsafe_name(info.name):
                    problems.append(f'{name}: member {info.name!r} has an unsafe path')
                    continue
                if not info.isfile():
                    if not info.isdir():
                        problems.append(f'{name}: member {info.name!r} is not a regular file')
                    continue
                named = member_key(info.name)
                if named is None:
                    continue
                members.setdefault(named[0], {})[named[1]] = (info.offset_data, info.size)
    except (tarfile.TarError, OSError) as e:
        raise invalid(path, f'cannot read the tar shard: {e}') from None
    samples = []
    for key, parts in members.items():
        img = next((parts[e] for e in IMAGE_EXTS if e in parts), None)
        if img is None or 'json' not in parts:
            problems.append(f'{name}: sample {key!r} lacks an image or a json member')
            continue
        samples.append((key, img[0], img[1], parts['json'][0], parts['json'][1]))
    return samples, problems


@DATASETS.register_module()
class ShardedTarDataset(LocCaBaseDataset):
    """Samples stored as ``{key}.jpg`` + ``{key}.json`` members of many tar shards.

    The json holds the same record as a JSONL line (``image`` may be omitted:
    the image is the key's image member). Works with every mmengine sampler,
    with DDP and with resume.

    Args:
        shards (str | list[str]): shard paths — local, fsspec URLs, globs or
            brace ranges such as ``'s3://bucket/train-{000000..000127}.tar'``.
        index_cache (bool): keep each shard's index in ``<shard>.idx.json``
            next to a local shard (rebuilt when the shard is newer). Defaults to True.
        **kwargs: :class:`LocCaBaseDataset` arguments (``skip_invalid``, ...).
    """

    def __init__(self, shards: Union[str, Sequence[str]], *args, index_cache: bool = True,
                 **kwargs):
        self.shards = expand_shards(shards)
        if not self.shards:
            raise FileNotFoundError(f'no tar shards match {shards!r}')
        self.index_cache = index_cache
        self._handles: Dict[int, object] = {}
        self._pid = None
        kwargs.setdefault('serialize_data', False)
        super().__init__(*args, **kwargs)

    def _index(self, path: str):
        cache = path + '.idx.json'
        local = '://' not in path
        if local and not osp.isfile(path):
            raise FileNotFoundError(f'tar shard not found: {path}')
        if self.index_cache and local and osp.isfile(cache) and \
                osp.getmtime(cache) >= osp.getmtime(path):
            with open(cache, encoding='utf-8') as f:
                cached = json.load(f)
            return [tuple(s) for s in cached['samples']], cached['problems']
        samples, problems = index_shard(path)
        if self.index_cache and local:
            try:
                tmp = f'{cache}.{os.getpid()}.tmp'
                with open(tmp, 'w', encoding='utf-8') as f:
                    json.dump(dict(samples=samples, problems=problems), f)
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only shard directory: index again next time
        return samples, problems

    def load_data_list(self) -> List[dict]:
        shard_ids, keys, offsets = [], [], []
        num_problems = 0
        for sid, path in enumerate(self.shards):
            samples, problems = self._index(path)
            if problems:
                if not self.skip_invalid:
                    raise invalid(path, f'{problems[0]} ({len(problems)} problem(s) in all)')
                num_problems += len(problems)
            for key, io_, is_, jo, js in samples:
                shard_ids.append(sid)
                keys.append(key)
                offsets.append((io_, is_, jo, js))
        if num_problems:
            self.num_invalid += num_problems
            print_log(f'ShardedTarDataset: skipped {num_problems} unsafe or incomplete '
                      f'members (skip_invalid=True)', logger='current', level=logging.WARNING)
        # Compact arrays: cheap to copy into every data worker.
        self._shard_ids = np.asarray(shard_ids, dtype=np.int32)
        self._keys = np.asarray(keys, dtype=object)
        self._offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 4)
        return [dict(sample_idx=i) for i in range(len(keys))]

    def _read(self, sid: int, offset: int, size: int) -> bytes:
        if self._pid != os.getpid():  # a forked worker must not share file positions
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(sid)
        if handle is None:
            handle = self._handles[sid] = _open(self.shards[sid])
        handle.seek(offset)
        return handle.read(size)

    def get_data_info(self, idx: int) -> dict:
        sid, key = int(self._shard_ids[idx]), str(self._keys[idx])
        img_off, img_size, json_off, json_size = (int(v) for v in self._offsets[idx])
        source = f'{osp.basename(self.shards[sid])}:{key}'
        obj = loads_line(self._read(sid, json_off, json_size), source)
        if isinstance(obj, dict):
            obj = dict(obj)
            obj.setdefault('image', key)
        info = parse_record(obj, source)
        info['img_bytes'] = self._read(sid, img_off, img_size)
        info['img_path'] = f'{self.shards[sid]}:{key}'
        info['sample_idx'] = idx
        return info

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_handles'], state['_pid'] = {}, None
        return state

    def close(self) -> None:
        """Close the shard files this process opened."""
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def sample_key(self, idx: int) -> Optional[str]:
        """The WebDataset key of sample ``idx`` (e.g. for tests and debugging)."""
        return str(self._keys[idx])
