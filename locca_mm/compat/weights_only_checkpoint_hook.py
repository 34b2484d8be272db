"""WeightsOnlyCheckpointHook: a run's checkpoints load with ``torch.load(weights_only=True)``."""
from mmengine.hooks import Hook

from locca_mm.compat.checkpoint_io import restore_history_buffers, to_weights_only_safe
from locca_mm.registry import HOOKS


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Write checkpoints that torch >= 2.6's default ``weights_only=True`` loading accepts.

    mmengine 0.10.7 stores ``HistoryBuffer`` objects and numpy values in its
    checkpoints, which ``weights_only`` loading refuses, so ``resume`` and
    ``load_from`` of the run's own checkpoints fail on recent torch. Before a
    checkpoint is saved this hook converts it in place with
    :func:`~locca_mm.compat.checkpoint_io.to_weights_only_safe` (numpy scalars to
    Python numbers, arrays to tensors, history buffers to plain dicts); after
    one is loaded it rebuilds the history buffers, before the runner restores
    its message hub. Nothing global is changed, so it is safe in any mmengine
    run (``configs/_base_/default_runtime.py`` names it in ``default_hooks``;
    an mmdet or mmpretrain config can add it to ``custom_hooks`` as
    ``dict(type='locca_mm.WeightsOnlyCheckpointHook')``).

    It also corrects the progress that mmengine 0.10.7's ``FlexibleRunner`` (the
    FSDP runner) writes into a checkpoint saved during validation: ``CheckpointHook``
    saves ``iter_N.pth`` again after a new best score, and ``FlexibleRunner``
    overwrites the hook's ``meta`` with ``iter + 1`` (``Runner`` keeps it), so the
    file would claim ``N + 1`` finished iterations and a resume would skip one. In
    validation the finished iterations (and epochs) are the runner's own counters.
    """

    priority = 'VERY_LOW'  # after every other hook has added its state

    def __init__(self) -> None:
        self._validating = False

    def before_val_epoch(self, runner) -> None:
        self._validating = True

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._validating = False  # VERY_LOW: after CheckpointHook's save of the best

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Make ``checkpoint`` weights-only safe, in place (and its progress right)."""
        from mmengine.runner import FlexibleRunner
        meta = checkpoint.get('meta')
        if self._validating and isinstance(runner, FlexibleRunner) and isinstance(meta, dict):
            meta.update(epoch=runner.epoch, iter=runner.iter)
        safe = to_weights_only_safe(checkpoint)
        checkpoint.clear()
        checkpoint.update(safe)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the ``HistoryBuffer`` objects of a loaded checkpoint, in place."""
        restore_history_buffers(checkpoint)
