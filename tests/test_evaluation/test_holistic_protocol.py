"""The holistic frozen-encoder protocol: one decoder recipe for every task, the encoder the
only thing an encoder checkpoint changes, and the encoder bit-identical after training."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, tool_env

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'holistic', '*.py')))
METRIC_OF = {'TextClassificationMetric': 'cls/accuracy', 'CaptionMetric': 'caption/CIDEr',
             'mmpretrain.VQAAcc': 'VQA/acc', 'mmpretrain.GQAAcc': 'GQA/acc'}


def _load(path, **options):
    from locca_mm.cli import load_config
    return load_config(path, options or None)


def test_every_task_has_the_same_frozen_encoder_and_decoder_recipe():
    assert len(CONFIGS) == 10
    cfgs = [_load(p) for p in CONFIGS]
    first = cfgs[0]
    for path, cfg in zip(CONFIGS, cfgs):
        for key in ('model', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
            assert cfg[key] == first[key], (path, key)
        assert cfg.model.backbone.frozen_stages == 12
        assert cfg.model.backbone.init_cfg.type == 'Pretrained'
        assert cfg.model.head.tasks == ('cap', ) and cfg.model.head.parallel_ratio == 0.0
        # The main metric keeps the checkpoint.
        assert cfg.default_hooks.checkpoint.save_best == METRIC_OF[cfg.val_evaluator.type]
        for phase in ('train', 'val', 'test'):
            dataset = cfg[f'{phase}_dataloader'].dataset
            assert dataset.type.startswith('Holistic')
            # Training tokenises with the model's tokenizer; evaluation does not tokenise.
            assert dataset.get('tokenizer') == (cfg.model.tokenizer if phase == 'train'
                                                else None)
            assert dataset.get('test_mode', False) == (phase != 'train')


def test_an_encoder_checkpoint_changes_only_the_encoders_init():
    path = CONFIGS[0]
    base = _load(path)
    other = _load(path, encoder_from='work_dirs/cap/iter_1100000.pth')
    assert other.model.backbone.init_cfg == dict(type='Pretrained', prefix='backbone.',
                                                 checkpoint='work_dirs/cap/iter_1100000.pth')
    other.model.backbone.init_cfg = base.model.backbone.init_cfg
    assert other.model == base.model


@pytest.mark.slow
def test_the_encoder_stays_bit_identical_and_only_the_decoder_trains(tmp_path):
    config = osp.join(ROOT, 'configs', 'holistic', 'vqa-frozen_locca-vit-b_vqav2.py')
    proc = subprocess.run([sys.executable, '-m', 'tests.config_runs', str(tmp_path), config],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=600)
    result = json.loads([x for x in proc.stdout.splitlines() if x.startswith('{')][-1])
    assert result['trained'] and 'error' not in result, result.get('error', proc.stderr[-3000:])
    name = 'holistic__vqa-frozen_locca-vit-b_vqav2'
    encoder = torch.load(tmp_path / f'{name}.pth', weights_only=True)['state_dict']
    ckpt = torch.load(tmp_path / name / 'iter_2.pth', weights_only=True)
    after = ckpt['state_dict']
    backbone = [k for k in after if k.startswith('backbone.')]
    assert backbone and sorted(backbone) == sorted(encoder)
    assert all(torch.equal(after[k], encoder[k]) for k in backbone)
    # The decoder trained: its parameters took both optimizer steps; the encoder's none
    # (no more states than decoder tensors).
    states = ckpt['optimizer']['state']
    assert 0 < len(states) <= len([k for k in after if k.startswith('head.')])
    assert all(int(s['step']) == 2 for s in states.values())
