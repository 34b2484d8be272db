"""Fixes for mmengine 0.10.7 running on recent torch, applied on ``import locca_mm``.

Two things break when mmengine 0.10.7 meets torch >= 2.6; both are fixed here,
narrowly, by wrapping mmengine functions (nothing in site-packages is edited):

1. **Checkpoints.** torch now loads with ``weights_only=True``, and mmengine's
   checkpoints hold ``HistoryBuffer`` objects (pickled together with their
   statistics methods via ``builtins.getattr``) and numpy scalars/arrays, so
   ``load_checkpoint`` and ``--resume`` fail. Allow-listing those globals is not
   a fix: ``getattr`` in an allow list lets a crafted file reach any attribute.
   Instead this module changes how checkpoints are *written*:

   - a ``HistoryBuffer`` pickles as ``rebuild_history_buffer(values, counts,
     max_length)`` with plain Python lists (exact for float64/int64);
   - numpy scalars become Python scalars and numpy arrays become tensors
     (:func:`to_weights_only_safe`) before ``torch.save``;

   and how they are *read*: local files load with an explicit
   ``weights_only=True`` and the single allow-listed global
   :func:`rebuild_history_buffer`. A file that needs anything else (for
   instance one crafted to run code on load) is refused with an error naming
   the file and the offending globals; so is a truncated or corrupted file.

   Local checkpoints are also written atomically (a temporary file renamed
   into place), and ``--resume`` without a path continues from the newest
   *complete* checkpoint when ``last_checkpoint`` names a missing or cut one.

2. **Distributed training on CPU.** mmengine calls ``torch.cuda.set_device``
   while initialising the process group and wraps the model in DDP with
   ``device_ids=[LOCAL_RANK]``. Without CUDA, the set_device call is skipped,
   ``backend='nccl'`` falls back to ``'gloo'`` (logged), and DDP gets
   ``device_ids=None``. With CUDA nothing changes.

:func:`apply_mmengine_patches` is idempotent.
"""
import copyreg
import functools
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
    'apply_mmengine_patches', 'rebuild_history_buffer', 'to_weights_only_safe',
    'safe_torch_load', 'CheckpointLoadError', 'cpu_model_wrapper_cfg', 'atomic_torch_save',
    'find_latest_complete_checkpoint', 'is_complete_checkpoint', 'atomic_write_text'
]

_PATCHED = False


class CheckpointLoadError(RuntimeError):
    """A checkpoint file could not be loaded safely (corrupt, truncated or unsafe)."""


def rebuild_history_buffer(log_history: List[float], count_history: List[float],
                           max_length: int) -> HistoryBuffer:
    """Rebuild a ``HistoryBuffer`` from plain lists (the only allow-listed global)."""
    return HistoryBuffer(list(log_history), list(count_history), int(max_length))


def _reduce_history_buffer(buf: HistoryBuffer):
    return rebuild_history_buffer, (buf._log_history.tolist(),
                                    buf._count_history.tolist(), int(buf.max_length))


def to_weights_only_safe(obj: Any) -> Any:
    """Return ``obj`` with numpy values replaced by types ``weights_only`` loads.

    numpy scalars become Python scalars (``.item()``, lossless); numeric numpy
    arrays become tensors; other arrays become nested lists. dicts (including
    ``OrderedDict``, other dict subclasses become ``dict``), lists and tuples are
    rebuilt; every other object is returned as it is.
    """
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


def safe_torch_load(filename: str, map_location=None) -> Any:
    """``torch.load`` with ``weights_only=True`` and errors that name the file.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointLoadError: the file is truncated or corrupted, or needs globals
            outside the allow list (it would have run code on load).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        try:
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


def _is_local(filename: str) -> bool:
    return '://' not in str(filename)


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


def _patch_checkpoints() -> None:
    from mmengine.runner import checkpoint as ckpt_mod
    from mmengine.runner import runner as runner_mod

    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals([rebuild_history_buffer])

    original_save = ckpt_mod.save_checkpoint

    @functools.wraps(original_save)
    def save_checkpoint(checkpoint, filename, *args, **kwargs):
        checkpoint = to_weights_only_safe(checkpoint)
        if _is_local(filename) and not args and not any(kwargs.values()):
            return atomic_torch_save(checkpoint, filename)
        return original_save(checkpoint, filename, *args, **kwargs)

    ckpt_mod.save_checkpoint = save_checkpoint
    runner_mod.save_checkpoint = save_checkpoint

    original_find = ckpt_mod.find_latest_checkpoint

    @functools.wraps(original_find)
    def find_latest_checkpoint(path):
        return find_latest_complete_checkpoint(path)

    ckpt_mod.find_latest_checkpoint = find_latest_checkpoint
    runner_mod.find_latest_checkpoint = find_latest_checkpoint
    from mmengine.runner import _flexible_runner
    _flexible_runner.find_latest_checkpoint = find_latest_checkpoint

    def load_from_local(filename, map_location):
        """Load a local checkpoint with ``weights_only=True`` (see module doc)."""
        return safe_torch_load(filename, map_location=map_location)

    ckpt_mod.CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)


def _cuda_usable() -> bool:
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _cpu_backend(backend: str) -> str:
    if backend == 'nccl' and not _cuda_usable():
        print_log('CUDA is not available: using the gloo backend instead of nccl.',
                  logger='current', level=logging.WARNING)
        return 'gloo'
    return backend


def _without_cuda_set_device(fn):
    """Run ``fn`` with ``torch.cuda.set_device`` a no-op when CUDA is unusable."""

    @functools.wraps(fn)
    def wrapper(backend, *args, **kwargs):
        if _cuda_usable():
            return fn(backend, *args, **kwargs)
        original = torch.cuda.set_device
        torch.cuda.set_device = lambda *a, **k: None
        try:
            return fn(_cpu_backend(backend), *args, **kwargs)
        finally:
            torch.cuda.set_device = original

    return wrapper


def cpu_model_wrapper_cfg(model_wrapper_cfg: Optional[dict], cfg) -> dict:
    """The model-wrapper config a CPU process group needs: DDP with ``device_ids=None``.

    ``None`` becomes the wrapper the runner would build itself
    (``MMDistributedDataParallel`` with ``broadcast_buffers=False`` and the
    config's ``find_unused_parameters``). A DDP-type wrapper without
    ``device_ids`` gets ``device_ids=None``; other wrappers are left alone.
    """
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel

    if model_wrapper_cfg is None:
        model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = MODEL_WRAPPERS.get(model_wrapper_cfg.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel):
        model_wrapper_cfg = dict(model_wrapper_cfg)
        model_wrapper_cfg.setdefault('device_ids', None)
    return model_wrapper_cfg


def _patch_distributed() -> None:
    from mmengine.dist import utils as dist_utils
    from mmengine.runner import runner as runner_mod

    for name in ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi'):
        setattr(dist_utils, name, _without_cuda_set_device(getattr(dist_utils, name)))

    original_wrap = runner_mod.Runner.wrap_model

    @functools.wraps(original_wrap)
    def wrap_model(self, model_wrapper_cfg, model):
        if self.distributed and not _cuda_usable():
            model_wrapper_cfg = cpu_model_wrapper_cfg(model_wrapper_cfg, self.cfg)
        return original_wrap(self, model_wrapper_cfg, model)

    runner_mod.Runner.wrap_model = wrap_model


def apply_mmengine_patches() -> None:
    """Apply the fixes described in this module's docstring (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    _patch_checkpoints()
    _patch_distributed()
    _PATCHED = True

