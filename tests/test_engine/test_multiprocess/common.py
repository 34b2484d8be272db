"""Shared by the multi-process tests: toy configs with data workers, and running them."""
import json
import os.path as osp

import torch

from tests.conftest import ROOT, free_port, run_tool

TOY = osp.join(ROOT, 'configs', 'toy', 'toy_regression.py')

#: The toy regressor on ToyRecordsDataset (random draws in `workers` data workers; as the
#: production loaders: persistent workers, endless shuffled sampling), the reliability hooks of
#: default_runtime plus RecordRankStateHook, no validation.
BODY = """
_base_ = ['{toy}']
train_cfg = dict(max_iters={iters}, val_interval=1000)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
train_dataloader = dict(
    num_workers={workers}, persistent_workers={workers} > 0,
    sampler=dict(type='InfiniteSampler', shuffle={shuffle}), dataset=dict(
    _delete_=True, type='ToyRecordsDataset', num_samples={samples}, skip_invalid=True,
    bad_indices={bad}))
randomness = dict(seed=5, deterministic=True)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=2, eta_min_ratio=0.0)]
default_hooks = dict(checkpoint=dict(interval={interval}, max_keep_ckpts=5),
                     logger=dict(interval=1))
custom_hooks = [dict(type='DataStatsHook', interval=1), dict(type='StepSeedHook'),
                dict(type='PreemptionHook'), dict(type='NonFiniteLossHook', action='skip'),
                dict(type='RecordRankStateHook'), {hooks}]
"""


def write_config(tmp_path, name: str, iters: int = 8, interval: int = 3, samples: int = 24,
                 bad=(), hooks: str = '', workers: int = 2,
                 shuffle: bool = True) -> str:
    """A toy config file under ``tmp_path``; ``hooks`` adds custom hooks (config text)."""
    cfg = tmp_path / f'{name}.py'
    cfg.write_text(BODY.format(toy=TOY, iters=iters, samples=samples, bad=list(bad),
                               interval=interval, hooks=hooks, workers=workers,
                               shuffle=shuffle))
    return str(cfg)


def train(cfg: str, work, procs: int = 1, *extra: str):
    """Train ``cfg`` into ``work`` (``procs`` > 1: torchrun on gloo); assert it exits 0."""
    if procs == 1:
        proc = run_tool(['train.py', cfg, '--work-dir', str(work), *extra], timeout=240)
    else:
        proc = run_tool(['dist_train.sh', cfg, str(procs), '--work-dir', str(work), *extra],
                        PORT=str(free_port()), timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def rank_record(work, rank: int = 0) -> dict:
    """What RecordRankStateHook wrote for ``rank``: JSON record plus ``state`` (its .pth)."""
    record = json.loads((work / f'rank{rank}.json').read_text())
    record['state'] = torch.load(str(work / f'rank{rank}.pth'), weights_only=False)
    return record
