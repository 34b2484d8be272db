"""Test scaffolding: a linear-regression model, dataset, metric and fault-injecting hooks.

They train in well under a second on a CPU and are deterministic, so tests of the runner
(resume, distributed sampling, error handling) and of the tools do not depend on the real
model. Importing this module registers them in locca_mm's registries; configs load it with
``custom_imports=dict(imports=['tests.toy'])`` (the repository root importable, as the tools
and ``tests.conftest.tool_env`` make it). The library itself never imports it.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch.utils.data import Dataset

from locca_mm.registry import DATASETS, HOOKS, METRICS, MODELS


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """``num_samples`` pairs ``y = x @ w + b + noise``, deterministic per (seed, index).

    Each item is ``dict(inputs=x[D], data_samples=BaseDataElement(target=y[1], index=i))``.

    Args:
        num_samples (int): Length of the dataset. Defaults to 64.
        dim (int): Input dimension D. Defaults to 8.
        seed (int): Seed of the generating weights and of every sample.
    """

    def __init__(self, num_samples: int = 64, dim: int = 8, seed: int = 0):
        self.num_samples = num_samples
        self.dim = dim
        self.seed = seed
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.randn(dim, 1, generator=g)
        self.metainfo = dict(dataset='toy-regression')

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        x = torch.randn(self.dim, generator=g)
        y = x @ self.weight + 0.5 + 0.01 * torch.randn(1, generator=g)
        return dict(inputs=x, data_samples=BaseDataElement(target=y, index=index))


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """A linear layer trained with MSE: ``forward(inputs[B, D], data_samples)``.

    ``mode='loss'`` returns ``{'loss': mse}``; ``'predict'`` returns one dict
    per sample with ``pred`` and ``target``; ``'tensor'`` returns ``[B, 1]``.
    """

    def __init__(self, dim: int = 8, data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.linear = nn.Linear(dim, 1)

    def forward(self, inputs, data_samples: Optional[List[dict]] = None, mode: str = 'tensor'):
        x = torch.stack(inputs) if isinstance(inputs, (list, tuple)) else inputs
        out = self.linear(x)
        if mode == 'tensor':
            return out
        target = torch.stack([d.target for d in data_samples]).to(out)
        if mode == 'loss':
            return dict(loss=((out - target)**2).mean())
        if mode == 'predict':
            return [dict(pred=p, target=t, index=d.index)
                    for p, t, d in zip(out.detach(), target, data_samples)]
        raise ValueError(f'Invalid mode "{mode}": expected "loss", "predict" or "tensor"')


@METRICS.register_module()
class ToyMSEMetric(BaseMetric):
    """Mean squared error over the predictions of :class:`ToyRegressor`."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for d in data_samples:
            self.results.append(float(((d['pred'] - d['target'])**2).mean()))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return dict(mse=sum(results) / max(len(results), 1))


@HOOKS.register_module()
class RecordSamplesHook(Hook):
    """Write what each rank trained on: ``samples_rank{r}.json`` and ``losses_rank{r}.json``.

    The samples file holds one list of dataset indices per training iteration
    (the sample's ``index`` field, else its ``sample_idx`` metainfo); the
    losses file one dict of this rank's own (not reduced) losses per iteration.
    """

    def __init__(self):
        self.seen: List[List[int]] = []
        self.losses: List[dict] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.seen.append([int(d.index) if 'index' in d else int(d.metainfo['sample_idx'])
                          for d in data_batch['data_samples']])
        self.losses.append({k: float(v) for k, v in (outputs or {}).items() if 'loss' in k})

    def after_train(self, runner) -> None:
        for name, value in (('samples', self.seen), ('losses', self.losses)):
            path = osp.join(runner.work_dir, f'{name}_rank{get_rank()}.json')
            with open(path, 'w', encoding='utf-8') as f:
                json.dump(value, f)


@HOOKS.register_module()
class SignalAtIterHook(Hook):
    """Send ``signal_name`` to this process after training iteration ``at_iter`` (1-based).

    Simulates a scheduler preempting the job at a known point.
    """

    priority = 'HIGHEST'

    def __init__(self, at_iter: int, signal_name: str = 'SIGTERM'):
        self.at_iter, self.signal_name = at_iter, signal_name

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at_iter:
            import os
            import signal
            os.kill(os.getpid(), getattr(signal, self.signal_name))


@HOOKS.register_module()
class BreakSaveHook(Hook):
    """Make the checkpoint save at iteration ``at_iter`` fail half-way (a simulated crash).

    ``torch.save`` writes half of its output and then raises ``OSError``, as a
    full disk or a kill during the write would leave things.
    """

    priority = 'HIGHEST'

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if checkpoint.get('meta', {}).get('iter') != self.at_iter:
            return
        import io
        original = torch.save

        def half_save(obj, f, *args, **kwargs):
            buf = io.BytesIO()
            original(obj, buf, *args, **kwargs)
            data = buf.getvalue()
            f.write(data[:len(data) // 2])
            torch.save = original
            raise OSError('simulated crash while writing the checkpoint')

        torch.save = half_save


@HOOKS.register_module()
class InjectNaNHook(Hook):
    """Put a NaN into the first image of the batch of iteration ``at_iter`` (1-based)."""

    priority = 'HIGHEST'

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        preprocessor = model.data_preprocessor
        if getattr(preprocessor, '_original_forward', None) is None:
            preprocessor._original_forward = preprocessor.forward
        if runner.iter + 1 != self.at_iter:
            preprocessor.forward = preprocessor._original_forward
            return

        def forward(data, training=False):
            out = preprocessor._original_forward(data, training)
            out['inputs'][0, 0, 0, 0] = float('nan')
            return out

        preprocessor.forward = forward
