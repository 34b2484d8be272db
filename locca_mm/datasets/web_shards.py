"""Web-scale shards: read img2dataset / WebDataset tar shards, write LocCa training shards.

Input (``iter_web_shard``): the tar layout img2dataset and WebDataset write,
one sample per key, its members next to each other::

    000000123.jpg   image bytes (jpg, jpeg, png or webp)
    000000123.txt   the caption (UTF-8)             -- or --
    000000123.json  {"caption": ...} or {"text": ...} (img2dataset also puts
                    url, width, height, ... here)

The shard is read as a stream (local paths and fsspec URLs alike). Nothing is
extracted; a member whose name is absolute or climbs out with ``..``, or that
is not a regular file, a sample without an image or a caption, and a key seen
twice are problems: :class:`~locca_mm.datasets.base.InvalidRecordError`, or,
with ``skip_invalid``, left out and reported through ``problems``. A tar that
cannot be read (truncated, corrupt) raises naming the shard.

Output (:class:`ShardWriter`): the layout :class:`ShardedTarDataset` reads,
``{key}.{ext}`` (image bytes passed through unchanged) and ``{key}.json``
(the JSONL record: ``caption``, ``regions``, ``width``, ``height``), written to a
temporary file and renamed when complete, so that a shard is either complete
or absent. Headers carry no time or owner, so the same records make the same
bytes. :func:`mark_done` / :func:`done_shards` / :func:`write_manifest` keep
the record of finished shards that makes a rerun resume.
"""
import io
import json
import os
import os.path as osp
import tarfile
import time
from dataclasses import dataclass, field
from glob import escape as glob_escape
from glob import glob
from typing import Dict, Iterator, List, Optional, Tuple

from .base import invalid
from .shards import IMAGE_EXTS, _open, _unsafe_name, member_key

__all__ = ['WebSample', 'iter_web_shard', 'ShardWriter', 'mark_done', 'done_shards',
           'write_manifest', 'MANIFEST_DIR']

#: Per-shard completion records live in ``OUT_DIR/MANIFEST_DIR/NAME.json``.
MANIFEST_DIR = 'manifest'


@dataclass
class WebSample:
    """One image–text pair read from an input shard."""

    key: str
    image: bytes
    ext: str
    caption: str
    meta: Dict = field(default_factory=dict)  # the sample's json member, if any
    source: str = ''  # 'shard.tar:key', for messages


def _caption(parts: Dict[str, bytes], meta: Dict) -> Optional[str]:
    """The caption from ``.txt``, else the json's ``caption`` / ``text``; None if absent/empty."""
    text = None
    if 'txt' in parts:
        text = parts['txt'].decode('utf-8', errors='replace')
    elif isinstance(meta.get('caption'), str):
        text = meta['caption']
    elif isinstance(meta.get('text'), str):
        text = meta['text']
    return text.strip() if text and text.strip() else None


def _sample(key: str, parts: Dict[str, bytes], source: str) -> WebSample:
    """A :class:`WebSample` from a key's members, or InvalidRecordError naming ``source``."""
    ext = next((e for e in IMAGE_EXTS if e in parts), None)
    if ext is None:
        raise invalid(source, f'no image member ({"/".join(IMAGE_EXTS)}) for key {key!r}')
    meta = {}
    if 'json' in parts:
        try:
            meta = json.loads(parts['json'].decode('utf-8'))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise invalid(source, f'{key}.json is not valid JSON: {e}') from None
        if not isinstance(meta, dict):
            raise invalid(source, f'{key}.json must hold a JSON object')
    caption = _caption(parts, meta)
    if caption is None:
        raise invalid(source, f'no caption for key {key!r} (.txt, or "caption"/"text" in .json)')
    return WebSample(key, parts[ext], ext, caption, meta, source)


def _tar_members(path: str, problem) -> Iterator[Tuple[str, str, bytes]]:
    """``(key, extension, data)`` of a tar's regular files in order; bad members to ``problem``."""
    name = osp.basename(path)
    try:
        with _open(path) as f, tarfile.open(fileobj=f, mode='r|') as tar:
            for info in tar:
                if _unsafe_name(info.name) or not (info.isfile() or info.isdir()):
                    why = 'an unsafe path' if _unsafe_name(info.name) else 'not a regular file'
                    problem(invalid(f'{name}:{info.name}', f'member has {why}'))
                    continue
                named = None if info.isdir() else member_key(info.name)
                if named is not None:
                    yield (*named, tar.extractfile(info).read())
    except (tarfile.TarError, OSError, EOFError) as e:
        raise invalid(path, f'cannot read the tar shard: {e}') from None


def iter_web_shard(path: str, skip_invalid: bool = False,
                   problems: Optional[List[str]] = None) -> Iterator[WebSample]:
    """The image–text pairs of one img2dataset / WebDataset tar shard, in shard order.

    Args:
        path (str): local path or fsspec URL of the ``.tar``.
        skip_invalid (bool): leave out bad members/samples (appended to
            ``problems``) instead of raising.
        problems (list, optional): receives one message per left-out problem.

    Raises:
        InvalidRecordError: an unreadable tar (always), or a bad member or
            sample when ``skip_invalid`` is False; the message names the shard.
    """
    problems = [] if problems is None else problems
    name = osp.basename(path)
    seen = set()

    def problem(exc):
        if not skip_invalid:
            raise exc
        problems.append(str(exc))

    def finish(key, parts) -> Optional[WebSample]:
        source = f'{name}:{key}'
        try:
            if key in seen:
                raise invalid(source, f'key {key!r} appears twice (its members are not adjacent)')
            seen.add(key)
            return _sample(key, parts, source)
        except ValueError as e:
            problem(e)
            return None

    key, parts = None, {}
    for this_key, ext, data in _tar_members(path, problem):
        if this_key != key and key is not None:
            sample = finish(key, parts)
            if sample is not None:
                yield sample
            parts = {}
        key = this_key
        parts[ext] = data
    sample = finish(key, parts) if key is not None else None
    if sample is not None:
        yield sample


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ''
    tar.addfile(info, io.BytesIO(data))


class ShardWriter:
    """Write one tar shard atomically: ``PATH.tmp.<pid>`` while open, ``PATH`` on :meth:`commit`.

    Use as a context manager: leaving it by an exception removes the temporary
    file and leaves ``PATH`` as it was (absent, or a complete older shard).
    Temporary files of ``PATH`` that a killed run left behind are removed when
    the writer starts (one process writes a given shard).
    """

    def __init__(self, path: str):
        self.path = path
        self.tmp = f'{path}.tmp.{os.getpid()}'
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        for stale in glob(f'{glob_escape(path)}.tmp.*'):
            os.remove(stale)
        self._file = open(self.tmp, 'wb')
        self._tar = tarfile.open(fileobj=self._file, mode='w', format=tarfile.PAX_FORMAT)
        self.num_samples = 0

    def add(self, key: str, image: bytes, ext: str, record: dict) -> None:
        """Add a sample: ``{key}.{ext}`` (the image bytes as given) and ``{key}.json``."""
        _add_member(self._tar, f'{key}.{ext}', image)
        _add_member(self._tar, f'{key}.json',
                    json.dumps(record, ensure_ascii=False).encode('utf-8'))
        self.num_samples += 1

    def commit(self) -> str:
        """Finish the tar, flush it to disk and rename it into place; returns the path."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop what was written; ``PATH`` is untouched."""
        try:
            self._tar.close()
            self._file.close()
        finally:
            if osp.exists(self.tmp):
                os.remove(self.tmp)

    def __enter__(self) -> 'ShardWriter':
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None and not self._file.closed:
            self.abort()


def _atomic_json(path: str, obj) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp.{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def mark_done(out_dir: str, name: str, stats: dict) -> None:
    """Record that ``OUT_DIR/NAME.tar`` is complete, with its counts (after its commit)."""
    _atomic_json(osp.join(out_dir, MANIFEST_DIR, f'{name}.json'), dict(stats, shard=f'{name}.tar'))


def done_shards(out_dir: str) -> Dict[str, dict]:
    """Finished shards of ``out_dir``: ``{name: stats}`` for each one whose tar and record exist."""
    folder = osp.join(out_dir, MANIFEST_DIR)
    if not osp.isdir(folder):
        return {}
    done = {}
    for entry in sorted(os.listdir(folder)):
        name, ext = osp.splitext(entry)
        if ext != '.json' or not osp.isfile(osp.join(out_dir, f'{name}.tar')):
            continue
        try:
            with open(osp.join(folder, entry), encoding='utf-8') as f:
                done[name] = json.load(f)
        except (OSError, json.JSONDecodeError):
            continue  # unreadable record: the shard is redone
    return done


def write_manifest(out_dir: str, **extra) -> dict:
    """``OUT_DIR/manifest.json``: every finished shard with its counts, and the totals."""
    shards = done_shards(out_dir)
    totals: Dict[str, float] = {}
    for stats in shards.values():
        for k, v in stats.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                totals[k] = totals.get(k, 0) + v
    manifest = dict(shards=shards, totals=totals, num_shards=len(shards),
                    written=time.strftime('%Y-%m-%dT%H:%M:%S'), **extra)
    _atomic_json(osp.join(out_dir, 'manifest.json'), manifest)
    return manifest
