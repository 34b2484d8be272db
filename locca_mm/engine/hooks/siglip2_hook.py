"""SigLIP2StageHook: switches SigLIP 2's second stage on and keeps its EMA teacher."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from locca_mm.registry import HOOKS


@HOOKS.register_module()
class SigLIP2StageHook(Hook):
    """Start :class:`~locca_mm.models.SigLIP2`'s stage two at ``start_fraction`` of the run's
    iterations (or at ``start_iter``), then update the EMA teacher after every step.

    The switch happens before the first stage-two iteration
    (``round(start_fraction * max_iters)``): the teacher becomes a copy of the student, and
    from then on ``loss_distill`` and ``loss_masked`` train. The model keeps the switch and
    the teacher in its state (``stage_two_active``, ``teacher.*``), so a run resumed after
    the switch does not switch again, and one resumed before it switches at the same
    iteration as the uninterrupted run: resumes are exact on both sides.

    The EMA momentum is fixed (SILC: a momentum rising to 1 stopped the teacher improving)
    unless ``final_momentum`` is given, which raises it along a cosine from ``momentum`` at
    the switch to ``final_momentum`` at the end (DINO's schedule). The update runs after the
    optimizer step of every iteration, before checkpoints are written.

    Args:
        start_fraction (float): fraction of ``max_iters`` where stage two starts. SigLIP 2:
            0.8. 0 starts it at once (e.g. adapting a released SigLIP 2).
        start_iter (int, optional): the iteration instead of a fraction.
        momentum (float): the teacher's EMA momentum. Defaults to 0.996 (DINO's; SILC and
            SigLIP 2 do not state theirs).
        final_momentum (float, optional): cosine schedule to this value. Defaults to None
            (fixed momentum).
    """

    priority = 'NORMAL'  # after the optimizer step (OptimWrapper), before CheckpointHook

    def __init__(self, start_fraction: float = 0.8, start_iter: Optional[int] = None,
                 momentum: float = 0.996, final_momentum: Optional[float] = None):
        if not 0.0 <= start_fraction <= 1.0:
            raise ValueError(f'start_fraction must be in [0, 1], got {start_fraction}')
        for name, m in dict(momentum=momentum, final_momentum=final_momentum).items():
            if m is not None and not 0.0 <= m <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {m}')
        self.start_fraction, self.start_iter = start_fraction, start_iter
        self.momentum, self.final_momentum = momentum, final_momentum

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'start_stage_two'):
            raise TypeError(f'SigLIP2StageHook needs a SigLIP2 model, got {type(model).__name__}')
        return model

    def switch_iter(self, runner) -> int:
        """The first iteration (0-based) that trains with stage two."""
        return self.switch_at(runner.max_iters)

    def switch_at(self, max_iters: int) -> int:
        """The first stage-two iteration (0-based) of a run of ``max_iters`` iterations."""
        if self.start_iter is not None:
            return self.start_iter
        return int(round(self.start_fraction * max_iters))

    def momentum_at(self, runner) -> float:
        """The EMA momentum of the step just taken (``runner.iter`` is its 0-based index)."""
        if self.final_momentum is None:
            return self.momentum
        start, end = self.switch_iter(runner), max(runner.max_iters - 1, 1)
        progress = min(max((runner.iter - start) / max(end - start, 1), 0.0), 1.0)
        return self.final_momentum - (self.final_momentum - self.momentum) * \
            (math.cos(math.pi * progress) + 1) / 2

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        if model.stage_two_cfg is None or model.stage_two_on:
            return
        if runner.iter >= self.switch_iter(runner):
            model.start_stage_two()
            print_log(f'SigLIP 2 stage two starts at iteration {runner.iter + 1}: EMA teacher '
                      'from the student, self-distillation and masked prediction on',
                      logger='current')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._model(runner)
        if model.stage_two_on:
            model.update_teacher(self.momentum_at(runner))
