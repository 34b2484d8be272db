"""``apply_runtime_fixes``: what this package's own runs need from mmengine 0.10.7 on recent torch.

Nothing here runs on ``import locca_mm``: the tools (``tools/train.py``,
``test.py``, ``infer.py``, ``demo.py``, ...) call :func:`apply_runtime_fixes`
once at start-up, and a script of yours may do the same. It patches, for the
whole process, exactly these mmengine functions (site-packages is not edited):

1. **Checkpoints.** ``mmengine.runner.checkpoint.save_checkpoint`` (also as
   imported by ``Runner``) writes :func:`~locca_mm.compat.checkpoint_io.to_weights_only_safe`
   checkpoints, local files atomically (temporary file + rename); the local
   loader scheme (``CheckpointLoader`` prefix ``''``) loads with
   :func:`~locca_mm.compat.checkpoint_io.safe_torch_load` (``weights_only=True``;
   numpy data allowed, code-running globals refused, errors name the file);
   ``find_latest_checkpoint`` (``--resume`` without a path) skips checkpoints
   a crash left incomplete.
2. **Distributed training on CPU.** mmengine calls ``torch.cuda.set_device``
   while initialising the process group (``_init_dist_pytorch`` / ``_slurm``
   / ``_mpi``) and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``
   (``Runner.wrap_model``). Without CUDA the set_device call is skipped,
   ``backend='nccl'`` falls back to ``'gloo'`` (logged), and DDP gets
   ``device_ids=None``. With CUDA nothing changes.

A run that is not started by these tools, e.g. a transfer config under mmdet's
own ``tools/train.py`` or a plain ``Runner.from_cfg``, needs none of this to
train and to load locca_mm checkpoints: those are weights-only safe, and the
``WeightsOnlyCheckpointHook`` of ``configs/_base_/default_runtime.py`` makes the
run's own checkpoints so (``resume`` works on torch >= 2.6). Only CPU
multi-process training and crash-safe (atomic) checkpoint files need the call.

:func:`apply_runtime_fixes` is idempotent; :func:`runtime_fixes_applied` says
whether it ran.
"""
import functools
import logging
from typing import Optional

import torch
from mmengine.logging import print_log

from locca_mm.compat.checkpoint_io import (
    atomic_torch_save,
    find_latest_complete_checkpoint,
    safe_torch_load,
    to_weights_only_safe,
)

__all__ = ['apply_runtime_fixes', 'runtime_fixes_applied', 'cpu_model_wrapper_cfg']

_APPLIED = False


def _is_local(filename: str) -> bool:
    return '://' not in str(filename)


def _patch_checkpoints() -> None:
    from mmengine.runner import checkpoint as ckpt_mod
    from mmengine.runner import runner as runner_mod

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


def runtime_fixes_applied() -> bool:
    """Whether :func:`apply_runtime_fixes` has run in this process."""
    return _APPLIED


def apply_runtime_fixes() -> None:
    """Apply the fixes described in this module's docstring (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _patch_checkpoints()
    _patch_distributed()
    _APPLIED = True
