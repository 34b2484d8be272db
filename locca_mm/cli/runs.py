"""Runs in this process, as the demo, the evaluation suite and the location diagnostics make
them (``tools/demo.py``, ``tools/eval_suite.py``,
``tools/analysis_tools/location_diagnostics.py``):

- :func:`train`: train a config here, with a progress line every ``interval`` iterations;
  returns the runner and its :class:`Progress` (every iteration's losses, the validation
  metrics: a learning curve).
- :func:`evaluate`: the metrics of a model on a dataloader config (test-loop style, no
  runner).
"""
import os
import time

__all__ = ['Progress', 'train', 'evaluate']


class Progress:
    """Prints a line per ``interval`` iterations; keeps every iteration's losses and the
    validation metrics (the REC learning curve)."""

    def __init__(self, stage: str, interval: int, start: float):
        from mmengine.hooks import Hook

        progress = self

        class _Hook(Hook):
            priority = 'LOW'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                progress.record(runner, outputs or {})

            def after_val_epoch(self, runner, metrics=None):
                progress.curve.append((runner.iter, dict(metrics or {})))

        self.hook = _Hook()
        self.stage, self.interval, self.start = stage, interval, start
        self.history, self.curve = [], []
        self.t0 = None

    def record(self, runner, outputs: dict) -> None:
        if self.t0 is None:
            self.t0 = time.time()
        losses = {k: float(v.detach()) for k, v in outputs.items() if 'loss' in k}
        self.history.append(losses)
        it, total = runner.iter + 1, runner.max_iters
        if it % self.interval == 0 or it == total:
            rate = (time.time() - self.t0) / it
            text = '  '.join(f'{k} {v:.3f}' for k, v in losses.items() if k != 'loss')
            print(f'[{time.time() - self.start:6.0f}s] {self.stage:<20} {it:4d}/{total}  '
                  f'{text}  (eta {rate * (total - it):.0f}s)', flush=True)


def train(cfg, stage: str, start: float, interval: int):
    """Train ``cfg`` in this process; return the runner and its progress record."""
    from .common import build_runner
    cfg.experiment_name = f'demo-{stage}-{os.getpid()}'
    cfg.visualizer.name = cfg.experiment_name
    cfg.log_level = 'WARNING'
    runner = build_runner(cfg)
    progress = Progress(stage, interval, start)
    runner.register_hook(progress.hook)
    runner.train()
    return runner, progress


def evaluate(model, dataloader_cfg, evaluator_cfg) -> dict:
    """Metrics of ``model`` on a dataloader config (test-loop style, no runner)."""
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(dataloader_cfg)
    evaluator = Evaluator(evaluator_cfg)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    model.eval()
    with torch.no_grad():
        for batch in loader:
            evaluator.process(model.test_step(batch), batch)
    return evaluator.evaluate(len(loader.dataset))
