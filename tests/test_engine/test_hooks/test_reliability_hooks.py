"""StepSeedHook, PreemptionHook, NonFiniteLossHook (engine/hooks/reliability_hooks.py) through
the tools: exact resume, crash-safe checkpoints, preemption, non-finite losses, bad data at
scale."""
import json
import os
import os.path as osp

import pytest
import torch

from locca_mm.compat.checkpoint_io import safe_torch_load
from tests.conftest import ROOT, assert_same_training_state, read_scalars, run_tool

SHAPES = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
TOY = osp.join(ROOT, 'configs', 'toy', 'toy_regression.py')
DEFAULT_HOOKS = ("dict(type='DataStatsHook', interval=1), dict(type='StepSeedHook'), "
                 "dict(type='PreemptionHook'), dict(type='NonFiniteLossHook', action='{action}')")


def _config(tmp_path, name, base, extra_hooks='', action='raise', body=''):
    hooks = DEFAULT_HOOKS.format(action=action) + (', ' + extra_hooks if extra_hooks else '')
    cfg = tmp_path / f'{name}.py'
    cfg.write_text(f"""_base_ = ['{base}']
custom_imports = dict(imports=['tests.toy'], allow_failed_imports=False)
custom_hooks = [{hooks}]
{body}
""")
    return str(cfg)


LOCCA_BODY = """
train_cfg = dict(max_iters=8)
train_dataloader = dict(batch_size=6, dataset=dict(num_samples=200))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=3, eta_min_ratio=0.0)]
default_hooks = dict(checkpoint=dict(interval=4, max_keep_ckpts=3))
randomness = dict(seed=3, deterministic=True)
model = dict(backbone=dict(drop_path_rate=0.1))
"""


def _state(path):
    return safe_torch_load(str(path))


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    """Random flips, region sampling, parallel-prediction rows and drop path all replay."""
    cfg = _config(tmp_path, 'locca', SHAPES, body=LOCCA_BODY)
    full = tmp_path / 'full'
    proc = run_tool(['train.py', cfg, '--work-dir', str(full)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = tmp_path / 'resumed'
    proc = run_tool(['train.py', cfg, '--work-dir', str(resumed), '--resume',
                     str(full / 'iter_4.pth')])
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = _state(full / 'iter_8.pth'), _state(resumed / 'iter_8.pth')
    assert_same_training_state(a, b)
    assert a['meta']['data_stats'] == b['meta']['data_stats']


@pytest.mark.slow
def test_crash_during_save_resumes_from_the_previous_checkpoint(tmp_path):
    body = """
train_cfg = dict(max_iters=9)
default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=5), logger=dict(interval=1))
log_processor = dict(window_size=1)
"""
    work = tmp_path / 'work'
    crashing = _config(tmp_path, 'crash', TOY, "dict(type='BreakSaveHook', at_iter=6)", body=body)
    proc = run_tool(['train.py', crashing, '--work-dir', str(work)])
    assert proc.returncode != 0 and 'simulated crash' in proc.stderr
    assert not (work / 'iter_6.pth').exists()  # nothing half-written under the real name
    assert not [f for f in os.listdir(work) if f.endswith('.tmp')]
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_3.pth')
    # A cut file left by another writer is not picked either.
    (work / 'iter_6.pth').write_bytes((work / 'iter_3.pth').read_bytes()[:1000])
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))
    healthy = _config(tmp_path, 'healthy', TOY, body=body)
    proc = run_tool(['train.py', healthy, '--work-dir', str(work), '--resume'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'iter_6.pth, which is missing or incomplete; resuming from' in proc.stdout + \
        proc.stderr
    runs = sorted(d for d in os.listdir(work) if osp.isdir(work / d))
    steps = sorted(r['step'] for r in read_scalars(work / runs[-1]) if 'loss' in r)
    assert steps == list(range(4, 10))
    assert _state(work / 'iter_9.pth')['meta']['iter'] == 9


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    body = "train_cfg = dict(max_iters=40)\ndefault_hooks = dict(checkpoint=dict(interval=100))\n"
    work = tmp_path / 'work'
    cfg = _config(tmp_path, 'preempt', TOY, "dict(type='SignalAtIterHook', at_iter=7)", body=body)
    proc = run_tool(['train.py', cfg, '--work-dir', str(work)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'preempted: checkpoint iter_7.pth saved at iteration 7' in proc.stdout + proc.stderr
    assert _state(work / 'iter_7.pth')['meta']['iter'] == 7
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_7.pth')
    plain = _config(tmp_path, 'plain', TOY, body=body)
    proc = run_tool(['train.py', plain, '--work-dir', str(work), '--resume'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _state(work / 'iter_40.pth')['meta']['iter'] == 40


SMALL = """
train_cfg = dict(max_iters=5)
train_dataloader = dict(batch_size=4, dataset=dict(num_samples=64))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(checkpoint=dict(interval=5))
"""


@pytest.mark.slow
def test_nan_in_a_batch_names_iteration_task_and_samples(tmp_path):
    cfg = _config(tmp_path, 'nan', SHAPES, "dict(type='InjectNaNHook', at_iter=3)", body=SMALL)
    proc = run_tool(['train.py', cfg, '--work-dir', str(tmp_path / 'work')])
    assert proc.returncode != 0
    err = proc.stderr
    assert 'NonFiniteLossError: non-finite loss at iteration 3 (rank 0)' in err
    assert "'loss_cap': nan" in err and "'loss_aref': nan" in err
    assert 'SyntheticShapes[pretrain]#' in err  # the samples of the batch, by source


@pytest.mark.slow
def test_nan_steps_can_be_skipped_and_counted(tmp_path):
    cfg = _config(tmp_path, 'nanskip', SHAPES, "dict(type='InjectNaNHook', at_iter=3)",
                  action='skip', body=SMALL)
    work = tmp_path / 'work'
    proc = run_tool(['train.py', cfg, '--work-dir', str(work)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = _state(work / 'iter_5.pth')
    assert ckpt['message_hub']['runtime_info']['nonfinite_skipped'] == 1
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())


def _jsonl_with_malformed(tmp_path):
    import shutil
    shutil.copytree(osp.join(ROOT, 'tests', 'data', 'jsonl', 'images'), tmp_path / 'images')
    good = {'image': '0.jpg', 'caption': 'a red circle', 'width': 64, 'height': 48,
            'regions': [{'bbox': [4, 6, 24, 26], 'text': 'red circle', 'score': 0.9}]}
    lines = [json.dumps(good)] * 40
    lines[6] = json.dumps({'caption': 'no image key'})  # 2 of 40 = 5% malformed
    lines[25] = '{"image": "0.jpg", "caption": '
    (tmp_path / 'data.jsonl').write_text('\n'.join(lines) + '\n')


def _jsonl_config(tmp_path, skip):
    from tests.test_models.utils import TINY_TOKENIZER, tiny_model_cfg
    pipeline = [dict(type='LoadImage'), dict(type='LoadRegions'),
                dict(type='mmdet.Resize', scale=(32, 32), keep_ratio=False),
                dict(type='SampleRegions'), dict(type='BuildTaskSequences'),
                dict(type='PackLocCaInputs')]
    body = f"""
model = {tiny_model_cfg()!r}
train_dataloader = dict(batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='JsonlDataset', ann_file='{tmp_path}/data.jsonl',
                 data_prefix=dict(img_path='{tmp_path}/images'), pipeline={pipeline!r},
                 tokenizer={TINY_TOKENIZER!r}, skip_invalid={skip}))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = []
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
log_processor = dict(by_epoch=True)
"""
    return _config(tmp_path, f'jsonl_{skip}', f'{ROOT}/configs/_base_/default_runtime.py',
                   body=body)


@pytest.mark.slow
def test_malformed_records_strict_stops_at_the_first(tmp_path):
    _jsonl_with_malformed(tmp_path)
    proc = run_tool(['train.py', _jsonl_config(tmp_path, False), '--work-dir',
                     str(tmp_path / 'strict')])
    assert proc.returncode == 1
    assert 'data.jsonl:7: missing key "image"' in proc.stderr


@pytest.mark.slow
def test_malformed_records_skipped_and_counted_exactly(tmp_path):
    _jsonl_with_malformed(tmp_path)
    work = tmp_path / 'skip'
    proc = run_tool(['train.py', _jsonl_config(tmp_path, True), '--work-dir', str(work)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _state(work / 'epoch_1.pth')['meta']['data_stats']['invalid_annotations'] == 2
    assert 'skipped 2 invalid records' in proc.stdout + proc.stderr


def test_hostile_jsonl_lines(tmp_path):
    from locca_mm.datasets import InvalidRecordError, JsonlDataset
    huge = tmp_path / 'huge.jsonl'
    with open(huge, 'wb') as f:
        f.write(b'{"image": "x.jpg", "caption": "' + b'a' * (100 << 20) + b'"}\n')
    with pytest.raises(InvalidRecordError, match=r'huge.jsonl:1: line of \d+ bytes exceeds'):
        JsonlDataset(ann_file=str(huge))
    deep = tmp_path / 'deep.jsonl'
    deep.write_text('[' * 100_000 + ']' * 100_000 + '\n')
    with pytest.raises(InvalidRecordError, match='deep.jsonl:1: JSON nested too deeply'):
        JsonlDataset(ann_file=str(deep))
