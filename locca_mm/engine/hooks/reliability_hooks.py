"""Hooks that make long runs safe to interrupt: per-step seeds, preemption, non-finite losses."""
import logging
import os.path as osp
import random
import signal
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from locca_mm.registry import HOOKS


def _any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on any rank."""
    if get_dist_info()[1] == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    all_reduce(value, op='max')
    return bool(value.item() > 0)


def _step_seed(base: int, rank: int, step: int, stream: int = 0) -> int:
    """The seed of ``step`` on ``rank``; ``stream`` 1 is the data of a loader without workers."""
    return (base * 1_000_003 + rank * 10_007 + step + stream * 7_919_993) % (2**63 - 1)


class _SeededBatches:
    """Wraps a train loop's batch iterator: torch is seeded before the n-th batch is fetched.

    Without data workers the pipeline draws from the main process's torch
    generator, whose state at a fetch would otherwise depend on what ran
    before it (the previous step, or the batches skipped on resume).
    """

    def __init__(self, iterator, base: int, rank: int):
        self._inner, self._base, self._rank, self._count = iterator, base, rank, 0

    def __iter__(self):
        return self

    def __next__(self):
        torch.manual_seed(_step_seed(self._base, self._rank, self._count, stream=1))
        self._count += 1
        return next(self._inner)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Seed torch's generators at every iteration from (seed, rank, iteration).

    The model's random draws (dropout, drop path, which Cap rows run in
    parallel prediction) then depend only on the step, so a run resumed at
    iteration k draws exactly what the uninterrupted run drew, on every rank,
    without saving per-rank generator states. Data randomness replays because
    the resumed loader fetches the batches it skips from the same seeds; a
    loader without workers (whose pipeline draws from the main process's
    torch generator) is also seeded from (seed, rank, batch number) before
    every batch (iteration-based loops), and torch, numpy and random before
    each epoch (epoch-based loops, whose resume replays no earlier batch).

    Args:
        seed (int, optional): base seed; defaults to the runner's seed.
    """

    priority = 'VERY_HIGH'

    def __init__(self, seed: Optional[int] = None):
        self.seed = seed

    def _base(self, runner) -> int:
        return self.seed if self.seed is not None else (runner.seed or 0)

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        if iterator is not None and not isinstance(iterator, _SeededBatches) and \
                getattr(loop.dataloader, 'num_workers', 1) == 0:
            loop.dataloader_iterator = _SeededBatches(iterator, self._base(runner),
                                                      get_dist_info()[0])

    def before_train_epoch(self, runner) -> None:
        # An epoch-based loop without workers fetches the epoch's batches in this process
        # after this hook, and a run resumed at an epoch boundary has not replayed the
        # earlier epochs' draws: seed torch, numpy and random for the epoch (its later
        # batches follow seeded steps).
        loop = runner.train_loop
        if getattr(loop.dataloader, 'num_workers', 1) == 0 and \
                not isinstance(getattr(loop, 'dataloader_iterator', None), _SeededBatches):
            seed = _step_seed(self._base(runner), get_dist_info()[0], runner.iter, stream=1)
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        step_seed = _step_seed(self._base(runner), get_dist_info()[0], runner.iter)
        torch.manual_seed(step_seed)  # also seeds every CUDA device


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM (slurm, Kubernetes), save a checkpoint after the current step and stop.

    The signal only sets a flag; the iteration in progress finishes, then
    every rank agrees to stop, a checkpoint ``iter_{n}.pth`` is written (and
    ``last_checkpoint`` points to it) and training ends cleanly with exit code
    0, so a requeued job resumes with ``--resume``.

    Args:
        signals (Sequence[str]): signal names to catch. Defaults to ('SIGTERM',).
    """

    priority = 'VERY_LOW'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )):
        self.signals = tuple(signals)
        self.requested = False
        self._previous: Dict[int, object] = {}

    def _request(self, signum, frame) -> None:
        self.requested = True

    def before_train(self, runner) -> None:
        for name in self.signals:
            signum = getattr(signal, name)
            try:
                self._previous[signum] = signal.signal(signum, self._request)
            except ValueError:  # not the main thread: leave signals to the caller
                pass

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not _any_rank(self.requested):
            return
        step = runner.iter + 1
        filename = f'iter_{step}.pth'
        # by_epoch=False: meta records the finished iteration (as CheckpointHook does)
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
        if get_dist_info()[0] == 0:
            from locca_mm.compat.checkpoint_io import atomic_write_text
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                              osp.join(runner.work_dir, filename))
        print_log(f'preempted: checkpoint {filename} saved at iteration {step}; resume with '
                  '--resume', logger='current', level=logging.WARNING)
        runner.train_loop.stop_training = True

    def after_train(self, runner) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite; the message says where."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop (or skip the step) when a loss is NaN or infinite, naming where it happened.

    The check runs before the backward pass. Every rank learns whether any
    rank's loss is non-finite, so with ``action='skip'`` all ranks skip the
    same step (no update, gradients zeroed) and the count is kept in the
    message hub (``runtime_info['nonfinite_skipped']``, saved in checkpoints).
    With ``action='raise'`` (default) training stops with a
    :class:`NonFiniteLossError` naming the iteration, the task losses that
    went non-finite and the samples of the batch (dataset index and source).

    Args:
        action (str): ``'raise'`` or ``'skip'``.
        max_skips (int, optional): with ``'skip'``, raise after this many
            skipped steps (a run that keeps diverging should stop).
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'raise', max_skips: Optional[int] = None):
        if action not in ('raise', 'skip'):
            raise ValueError(f"action must be 'raise' or 'skip', got {action!r}")
        self.action, self.max_skips = action, max_skips
        self.skipped = 0
        self._losses: Dict[str, torch.Tensor] = {}
        self._batch = None  # the batch in progress, described only if its loss is non-finite

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        original_parse = model.parse_losses
        hook = self

        def parse_losses(losses):
            hook._losses = {k: v.detach() for k, v in losses.items()
                            if 'loss' in k and isinstance(v, torch.Tensor)}
            return original_parse(losses)

        model.parse_losses = parse_losses
        wrapper = runner.optim_wrapper
        original_update = wrapper.update_params

        def update_params(loss, *args, **kwargs):
            if hook._check(runner, loss):
                return original_update(loss, *args, **kwargs)
            wrapper.zero_grad()
            return None

        wrapper.update_params = update_params
        saved = runner.message_hub.get_info('nonfinite_skipped')
        self.skipped = int(saved or 0)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._batch = data_batch

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._batch = None

    def _samples(self) -> List[str]:
        """``index:source`` of every sample of the batch in progress."""
        samples = []
        for ds in (self._batch or {}).get('data_samples', []) or []:
            meta = getattr(ds, 'metainfo', {})
            samples.append(f"{meta.get('sample_idx', '?')}:{meta.get('source', '?')}")
        return samples

    def _check(self, runner, loss: torch.Tensor) -> bool:
        """True to go on with the update; False to skip it (or raise)."""
        local_bad = not bool(torch.isfinite(loss.detach()).all())
        if not _any_rank(local_bad):
            return True
        step = runner.iter + 1
        if local_bad:
            tasks = {k: float(v) for k, v in self._losses.items()
                     if not bool(torch.isfinite(v).all())}
            where = (f'non-finite loss at iteration {step} (rank {get_dist_info()[0]}): '
                     f'{tasks or {"loss": float(loss)}}; samples of the batch '
                     f'(index:source): {self._samples()}')
        else:
            where = f'non-finite loss on another rank at iteration {step}'
        if self.action == 'raise':
            raise NonFiniteLossError(where)
        self.skipped += 1
        runner.message_hub.update_info('nonfinite_skipped', self.skipped)
        print_log(f'skipped step: {where} ({self.skipped} skipped so far)', logger='current',
                  level=logging.WARNING)
        if self.max_skips is not None and self.skipped > self.max_skips:
            raise NonFiniteLossError(f'{where}; more than max_skips={self.max_skips} steps '
                                     'skipped')
        return False
