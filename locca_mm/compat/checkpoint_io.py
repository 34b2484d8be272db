"""Checkpoint I/O that torch's ``weights_only`` loading accepts: pure functions, no patches.

torch >= 2.6 loads with ``weights_only=True``; mmengine 0.10.7 writes
``HistoryBuffer`` objects (pickled together with their statistics methods via
``builtins.getattr``) and numpy values into its checkpoints, so its own
``load_checkpoint`` / ``resume`` fail on them. Allow-listing ``getattr`` is not
a fix (a crafted file could reach any attribute). What this module offers
instead:

- :func:`to_weights_only_safe` turns a checkpoint dict into one that loads with
  ``weights_only=True`` and *no* extra allow list: numpy scalars become Python
  numbers, numeric arrays tensors, and a ``HistoryBuffer`` a plain marker dict
  (:data:`HISTORY_BUFFER_KEY`); :func:`restore_history_buffers` undoes the
  marker after loading.
- :func:`safe_torch_load` loads with ``weights_only=True`` and, for files written
  elsewhere, also accepts numpy data (arrays, dtypes, scalars are data, not
  code) and the ``rebuild_history_buffer`` records of older locca_mm
  checkpoints, inside a ``torch.serialization.safe_globals`` block (the
  process-wide allow list is left as it was). Anything else, e.g. a file
  crafted to run code on load, is refused with an error naming the file and
  the globals it asks for; so is a truncated or corrupted file.
- :func:`load_weights_file` reads a weights file from elsewhere (timm, Hugging Face,
  any ``.safetensors`` / ``.bin`` / ``.pth``): safetensors as they are, a pickle only
  through :func:`safe_torch_load`;
- :func:`atomic_torch_save` / :func:`atomic_write_text` write by rename, and
  :func:`find_latest_complete_checkpoint` finds the checkpoint ``--resume``
  should continue from when a crash cut the newest one.

:class:`~locca_mm.engine.hooks.WeightsOnlyCheckpointHook` applies the first two
to a run's checkpoints from its config; :func:`locca_mm.compat.apply_runtime_fixes`
(called by this package's tools) routes mmengine's own saving and loading
through them.
"""
import logging
import os.path as osp
import pickle
import zipfile
from collections import OrderedDict
from typing import IO, Any, Callable, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

__all__ = [
    'CheckpointLoadError', 'HISTORY_BUFFER_KEY', 'rebuild_history_buffer', 'load_weights_file',
    'to_weights_only_safe', 'restore_history_buffers', 'safe_torch_load', 'atomic_torch_save',
    'atomic_write_text', 'is_complete_checkpoint', 'find_latest_complete_checkpoint'
]

#: The key of the plain dict a ``HistoryBuffer`` is stored as (see :func:`to_weights_only_safe`).
HISTORY_BUFFER_KEY = '__mmengine_history_buffer__'


class CheckpointLoadError(RuntimeError):
    """A checkpoint file could not be loaded safely (corrupt, truncated or unsafe)."""


def rebuild_history_buffer(log_history: List[float], count_history: List[float],
                           max_length: int) -> HistoryBuffer:
    """Rebuild a ``HistoryBuffer`` from plain lists.

    Checkpoints of earlier locca_mm versions stored buffers as calls of this
    function; :func:`safe_torch_load` still accepts them.
    """
    return HistoryBuffer(list(log_history), list(count_history), int(max_length))


def _numpy_data_globals() -> list:
    """The globals a pickle of numpy arrays, dtypes and scalars refers to (data only).

    Each is listed under numpy 2's module path and under numpy 1's
    (``numpy.core``), so files written with either load.
    """
    from numpy._core import multiarray
    out = [np.ndarray, np.dtype]
    out += [type(np.dtype(c)) for c in '?bBhHiIlLqQefdgFDGOSUVMm']
    for fn in (multiarray._reconstruct, multiarray.scalar):
        out += [fn, (fn, f'numpy.core.multiarray.{fn.__name__}')]
    return out


def _legacy_history_buffer_global():
    return (rebuild_history_buffer, 'locca_mm.utils.mmengine_compat.rebuild_history_buffer')


def to_weights_only_safe(obj: Any) -> Any:
    """Return ``obj`` with numpy values replaced by types ``weights_only`` loads.

    numpy scalars become Python scalars (``.item()``, lossless); numeric numpy
    arrays become tensors; other arrays become nested lists; a ``HistoryBuffer``
    becomes ``{HISTORY_BUFFER_KEY: {log_history, count_history, max_length}}``
    (plain lists, exact for float64/int64; :func:`restore_history_buffers`
    rebuilds it). dicts (including ``OrderedDict``, other dict subclasses
    become ``dict``), lists and tuples are rebuilt; every other object is
    returned as it is.
    """
    if isinstance(obj, HistoryBuffer):
        return {HISTORY_BUFFER_KEY: dict(log_history=obj._log_history.tolist(),
                                         count_history=obj._count_history.tolist(),
                                         max_length=int(obj.max_length))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in 'biuf':
            return torch.from_numpy(np.ascontiguousarray(obj).copy())
        return to_weights_only_safe(obj.tolist())
    if isinstance(obj, dict):
        items = ((k, to_weights_only_safe(v)) for k, v in obj.items())
        return OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, tuple) and not hasattr(obj, '_fields'):
        return tuple(to_weights_only_safe(v) for v in obj)
    if isinstance(obj, list):
        return [to_weights_only_safe(v) for v in obj]
    return obj


def restore_history_buffers(obj: Any) -> Any:
    """Rebuild the ``HistoryBuffer`` objects :func:`to_weights_only_safe` stored as dicts.

    Containers are updated in place (and returned); other values are returned as they are.
    """
    if isinstance(obj, dict):
        if set(obj) == {HISTORY_BUFFER_KEY}:
            record = obj[HISTORY_BUFFER_KEY]
            return rebuild_history_buffer(record['log_history'], record['count_history'],
                                          record['max_length'])
        for k, v in obj.items():
            obj[k] = restore_history_buffers(v)
    elif isinstance(obj, list):
        obj[:] = [restore_history_buffers(v) for v in obj]
    return obj


def safe_torch_load(filename: str, map_location=None) -> Any:
    """``torch.load`` with ``weights_only=True`` and errors that name the file.

    numpy data (arrays, dtypes, scalars) and the ``rebuild_history_buffer``
    records of older locca_mm checkpoints are accepted for this call only
    (``torch.serialization.safe_globals``); marker dicts of
    :func:`to_weights_only_safe` are turned back into ``HistoryBuffer`` objects.

    A zip checkpoint's members are checked against their CRC32 first
    (``ZipFile.testzip``: one extra read of the file), because ``torch.load``
    does not check them and would return a tensor with a flipped byte as if
    nothing were wrong.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointLoadError: the file is truncated or corrupted (a member fails its
            CRC), or needs globals outside the allow list (it would have run code on load).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    if zipfile.is_zipfile(filename) and not is_complete_checkpoint(filename):
        raise CheckpointLoadError(
            f'corrupted checkpoint {filename}: a zip member fails its CRC32 check (a changed '
            'byte: bad disk or copy); use another checkpoint (--resume picks the newest '
            'complete one)')
    allowed = _numpy_data_globals() + [_legacy_history_buffer_global()]
    try:
        with torch.serialization.safe_globals(allowed):
            return restore_history_buffers(
                torch.load(filename, map_location=map_location, weights_only=True))
    except pickle.UnpicklingError as e:
        try:
            with torch.serialization.safe_globals(allowed):
                unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
        except Exception:  # noqa: BLE001 - only used to enrich the message
            unsafe = []
        if unsafe:
            raise CheckpointLoadError(
                f'refusing to load {filename}: it needs globals outside the '
                f'allow list ({", ".join(unsafe)}), so loading it could run '
                'code. locca_mm checkpoints never need them; if the file comes '
                'from a source you trust, load it yourself with '
                'torch.load(..., weights_only=False) and re-save its state_dict.'
            ) from None
        raise CheckpointLoadError(f'corrupted checkpoint {filename}: {e}') from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointLoadError(
            f'cannot read checkpoint {filename} (truncated or corrupted?): '
            f'{str(e).splitlines()[0] if str(e) else type(e).__name__}') from None


def load_weights_file(filename: str, map_location='cpu') -> Any:
    """A weights file written elsewhere: ``.safetensors`` (tensors, no code), else a torch
    pickle read by :func:`safe_torch_load` (weights only).

    A ``.bin`` / ``.pth`` that needs code to unpickle (a pickled model object, custom
    classes) is refused with the remedy named: re-save it as safetensors, or load it
    yourself with ``torch.load(..., weights_only=False)`` if you trust it and save its
    ``state_dict()``.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointLoadError: unreadable, corrupted or unsafe (the file is named).
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'weights file not found: {filename}')
    if filename.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            return load_file(filename, device=str(map_location))
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointLoadError(f'cannot read {filename} as safetensors: {e}') from None
    return safe_torch_load(filename, map_location=map_location)


def _atomic_write(filename: str, mode: str, write: Callable[[IO], None]) -> None:
    """``write`` into a temporary file beside ``filename``, flush it to disk, then rename.

    A crash or kill during the write leaves the previous file (or none) under
    ``filename``, never a truncated one; the temporary file is removed when
    the write fails in-process.
    """
    import os
    import tempfile
    directory = osp.dirname(osp.abspath(filename))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filename)}.', suffix='.tmp',
                               dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=None if 'b' in mode else 'utf-8') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_torch_save(obj: Any, filename: str) -> None:
    """``torch.save`` by rename (see :func:`_atomic_write`): never a truncated checkpoint."""
    _atomic_write(filename, 'wb', lambda f: torch.save(obj, f))


def atomic_write_text(filename: str, text: str) -> None:
    """Write a small text file (e.g. ``last_checkpoint``) by rename: never half written."""
    _atomic_write(filename, 'w', lambda f: f.write(text))


def is_complete_checkpoint(filename: str) -> bool:
    """Whether ``filename`` is a whole torch checkpoint (its zip directory reads)."""
    if not osp.isfile(filename):
        return False
    try:
        with zipfile.ZipFile(filename) as zf:
            return zf.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def find_latest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from: the newest complete one.

    ``last_checkpoint`` is trusted when the file it names is complete;
    otherwise (the pointer or the file was cut by a crash) the newest complete
    ``iter_*.pth`` / ``epoch_*.pth`` of ``work_dir`` is used, and the broken
    one is named in a warning.
    """
    import glob
    import re
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.exists(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            named = f.read().strip() or None
        if named and is_complete_checkpoint(named):
            return named
    candidates = []
    for path in glob.glob(osp.join(work_dir, '*.pth')):
        m = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            candidates.append((int(m.group(2)), path))
    for _, path in sorted(candidates, reverse=True):
        if is_complete_checkpoint(path):
            if named:
                print_log(f'last_checkpoint names {named}, which is missing or incomplete; '
                          f'resuming from {path}', logger='current', level=logging.WARNING)
            return path
        print_log(f'skipping incomplete checkpoint {path}', logger='current',
                  level=logging.WARNING)
    if named is None:
        print_log(f'no checkpoint to resume from in {work_dir}', logger='current')
    return None
