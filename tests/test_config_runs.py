"""Every config trains (2 iterations, one validation) and tests through a plain
``mmengine.runner.Runner.from_cfg`` (``FlexibleRunner.from_cfg`` for the FSDP config), in a
process where no locca_mm tool or fix has run."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

from tests.conftest import ROOT, tool_env

HOSTED = ('mmdet', 'mmseg', 'mmpretrain')  # tests/test_transfer runs these in their host
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p and osp.relpath(p, osp.join(ROOT, 'configs')).split(
                     osp.sep)[0] not in HOSTED)
CHUNKS = 3


@pytest.mark.parametrize('chunk', range(CHUNKS))
@pytest.mark.slow
def test_every_config_runs_through_a_plain_runner(chunk, tmp_path):
    configs = CONFIGS[chunk::CHUNKS]
    proc = subprocess.run([sys.executable, '-m', 'tests.config_runs', str(tmp_path), *configs],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=900)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert len(results) == len(configs), proc.stderr[-3000:]
    failed = {r['config']: r['error'] for r in results if 'error' in r}
    assert not failed, '\n\n'.join(f'{k}:\n{v}' for k, v in failed.items())
    import torch
    for r in results:
        assert r['trained'] or r['tested'], r
        # A config that names FlexibleRunner (the FSDP one) ran through it, sharded.
        assert r['runner'] == ('FlexibleRunner' if 'fsdp' in r['config'] else 'Runner'), r
        name = osp.splitext(osp.relpath(r['config'], 'configs'))[0].replace('/', '__')
        if r['trained']:
            # The run's checkpoint loads with torch's own weights_only loader (no allow list).
            ckpt = torch.load(osp.join(tmp_path, name, 'iter_2.pth'), weights_only=True)
            assert ckpt['meta']['iter'] == 2
        if r['config'].startswith('configs/locca/'):
            # Pretraining validates: the model's own ARef on held-out expressions and
            # caption CIDEr, and keeps the checkpoint with the best ARef accuracy.
            assert {'val/aref/Acc@0.5', 'val/caption/CIDEr'} <= set(r['validated']), r
            assert glob.glob(osp.join(tmp_path, name, 'best_aref_Acc@0.5_iter_*.pth')), r
        elif r['config'].startswith(('configs/cap/', 'configs/cappa/', 'configs/coca/')):
            assert 'val/caption/CIDEr' in r['validated'], r


@pytest.mark.slow
def test_a_plain_runner_resumes_its_own_checkpoint(tmp_path):
    # mmengine 0.10.7 on torch >= 2.6 cannot resume its own checkpoints (HistoryBuffer, numpy);
    # the WeightsOnlyCheckpointHook of default_runtime.py makes them loadable, with no fix.
    config = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
    proc = subprocess.run([sys.executable, '-m', 'tests.config_runs', str(tmp_path), '--resume',
                           config], cwd=ROOT, env=tool_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['resumed_iter'] == 3
    assert result['loss_history'] == 3  # the 2 logged before the checkpoint came back with it
