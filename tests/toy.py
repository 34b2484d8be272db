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

from locca_mm.datasets.base import LocCaBaseDataset
from locca_mm.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS


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

    Simulates a scheduler preempting the job at a known point; with ``rank``,
    only that rank's process gets the signal.
    """

    priority = 'HIGHEST'

    def __init__(self, at_iter: int, signal_name: str = 'SIGTERM', rank: Optional[int] = None):
        self.at_iter, self.signal_name, self.rank = at_iter, signal_name, rank

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.at_iter and self.rank in (None, get_rank()):
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


@TRANSFORMS.register_module()
class ToyRandomRecord:
    """Turn a ``ToyRecordsDataset`` info into a sample, drawing as augmentations do.

    Every call draws one number from each of the process's global generators
    (numpy, ``random``, torch), adds their sum to the inputs and keeps them in
    ``data_samples.draws``: what a run trains on then depends on how the data
    workers are seeded. A record with ``bad=True`` raises ``InvalidRecordError``.
    """

    def __call__(self, results: dict) -> dict:
        import random

        import numpy as np

        from locca_mm.datasets.base import invalid
        if results['bad']:
            raise invalid(f"toy#{results['index']}", 'bad record (injected)')
        draws = [float(np.random.rand()), random.random(), float(torch.rand(()))]
        x = results['x'] + 0.1 * sum(draws)
        sample = BaseDataElement(target=results['y'], index=results['index'],
                                 draws=torch.tensor(draws, dtype=torch.float64))
        return dict(inputs=x, data_samples=sample)


@DATASETS.register_module()
class ToyRecordsDataset(LocCaBaseDataset):
    """:class:`ToyRegressionDataset` samples through ``LocCaBaseDataset``'s skipping.

    Items go through ``pipeline`` (``[dict(type='ToyRandomRecord')]`` by
    default); records listed in ``bad_indices`` fail there, so with
    ``skip_invalid=True`` they are replaced by the next record and counted in
    its ``data_stats`` as the real datasets do.

    Args:
        num_samples (int): Length. Defaults to 64.
        dim (int): Input dimension. Defaults to 8.
        bad_indices (Sequence[int]): records that are invalid.
        **kwargs: ``LocCaBaseDataset`` arguments (``skip_invalid``, ...).
    """

    def __init__(self, num_samples: int = 64, dim: int = 8, bad_indices: Sequence[int] = (),
                 pipeline: Sequence = (dict(type='ToyRandomRecord'), ), **kwargs):
        self._source = ToyRegressionDataset(num_samples, dim)
        self.bad_indices = set(bad_indices)
        super().__init__(pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        infos = []
        for i in range(len(self._source)):
            item = self._source[i]
            infos.append(dict(index=i, x=item['inputs'], y=item['data_samples'].target,
                              bad=i in self.bad_indices))
        return infos


@HOOKS.register_module()
class RecordRankStateHook(Hook):
    """Write what this rank saw and holds: ``rank{r}.json`` and ``rank{r}.pth``.

    The JSON holds, per training iteration, the samples' ``[index, *draws]``
    (when they carry ``draws``) and the flattened parameters after the step,
    plus the message hub's ``nonfinite_skipped`` and ``data_stats`` at the end.
    The ``.pth`` holds this rank's model and optimizer state dicts.
    """

    priority = 'LOWEST'

    def __init__(self):
        self.draws: List[list] = []
        self.params: List[List[float]] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self.draws.append([[int(d.index)] + d.draws.tolist()
                           for d in data_batch['data_samples'] if 'draws' in d])
        self.params.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()])
                           .tolist())

    def after_train(self, runner) -> None:
        from mmengine.model import is_model_wrapper
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        hub = runner.message_hub
        record = dict(draws=self.draws, params=self.params,
                      nonfinite_skipped=hub.get_info('nonfinite_skipped'),
                      data_stats=hub.get_info('data_stats'), iter=runner.iter)
        base = osp.join(runner.work_dir, f'rank{get_rank()}')
        with open(base + '.json', 'w', encoding='utf-8') as f:
            json.dump(record, f)
        torch.save(dict(state_dict=model.state_dict(),
                        optimizer=runner.optim_wrapper.state_dict()), base + '.pth')


@HOOKS.register_module()
class InjectNaNOnRankHook(Hook):
    """Make the inputs of iteration ``at_iter`` (1-based) NaN on rank ``rank`` only.

    Works for batched tensors and for lists of per-sample tensors (the toy models).
    """

    priority = 'HIGHEST'

    def __init__(self, at_iter: int, rank: int = 0):
        self.at_iter, self.rank = at_iter, rank

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter + 1 != self.at_iter or get_rank() != self.rank:
            return
        inputs = data_batch['inputs']
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        first.view(-1)[0] = float('nan')


@HOOKS.register_module()
class RecordBlockComputeHook(Hook):
    """Write how the first ``module_type`` submodule ran: ``compute_rank{r}.json``.

    One entry per training iteration: how many times its forward ran (2 with
    activation checkpointing: the forward, then its recomputation in the
    backward pass) and the dtype of its output (the compute dtype).
    """

    def __init__(self, module_type: str = 'EncoderBlock'):
        self.module_type = module_type
        self.calls, self.dtypes = 0, set()
        self.record: List[dict] = []

    def before_train(self, runner) -> None:
        module = next(m for m in runner.model.modules()  # FSDP2 subclasses it: FSDPEncoderBlock
                      if any(c.__name__ == self.module_type for c in type(m).__mro__))

        def count(mod, args):  # a pre-hook: a recomputation may stop before the output
            self.calls += 1

        def dtype(mod, args, output):
            self.dtypes.add(str(output.dtype if torch.is_tensor(output) else output[0].dtype))

        module.register_forward_pre_hook(count)
        module.register_forward_hook(dtype)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.record.append(dict(calls=self.calls, dtypes=sorted(self.dtypes)))
        self.calls, self.dtypes = 0, set()

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'compute_rank{get_rank()}.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(self.record, f)
