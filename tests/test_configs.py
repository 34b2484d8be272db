"""Every config parses with its bases, and what it promises is there."""
import glob
import os.path as osp

import pytest

from locca_mm.cli import leaf_datasets, load_config
from tests.conftest import ROOT

TOKENISING = ('BuildTaskSequences', 'BuildDetectionSequence')

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_parses_and_is_complete(path):
    cfg = load_config(path)
    # Transfer configs run in their host package's scope and import locca_mm for the encoder.
    host = osp.relpath(path, osp.join(ROOT, 'configs')).split(osp.sep)[0]
    if host in ('mmdet', 'mmseg', 'mmpretrain'):
        assert cfg.default_scope == host
        assert 'locca_mm' in cfg.custom_imports['imports']
        assert cfg.model.backbone.type == 'locca_mm.LocCaViT'
        assert cfg.model.backbone.init_cfg == dict(
            type='Pretrained', prefix='backbone.',
            checkpoint='work_dirs/locca_vit-b16_256xb32-1100k_webli/encoder.pth')
    else:
        assert cfg.default_scope == 'locca_mm'
    assert cfg.get('model') is not None
    for phase in ('train', 'val', 'test'):
        loader = cfg.get(f'{phase}_dataloader')
        if loader:
            # Evaluation loops come with their evaluator.
            if phase != 'train':
                assert cfg.get(f'{phase}_evaluator'), f'{phase}_evaluator missing'
            # The config itself (no tool links anything) gives every dataset whose
            # pipeline tokenises the model's tokenizer: one entry for both.
            for d in leaf_datasets(loader['dataset']):
                if any(t.get('type', '').split('.')[-1] in TOKENISING
                       for t in d.get('pipeline', [])):
                    assert d.get('tokenizer') == cfg.model.tokenizer
    if cfg.get('encoder_from'):
        assert cfg.model.backbone.init_cfg['type'] == 'Pretrained'
        assert cfg.model.backbone.init_cfg['prefix'] == 'backbone.'


def test_shapes_vocabulary_in_config_matches_the_dataset():
    from locca_mm.datasets import SyntheticShapes
    cfg = load_config(osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py'))
    assert cfg.tokenizer.text_tokenizer.vocab == SyntheticShapes.vocabulary()


PRETRAIN_CONFIGS = sorted(p for family in ('locca', 'cap', 'cappa', 'coca', 'clip')
                          for p in glob.glob(osp.join(ROOT, 'configs', family, '*.py')))
# What docs/en/advanced_guides/reliability.md promises for every config
# (configs/_base_/default_runtime.py).
RELIABILITY_CUSTOM_HOOKS = ('DataStatsHook', 'StepSeedHook', 'PreemptionHook',
                            'NonFiniteLossHook')
RELIABILITY_DEFAULT_HOOKS = dict(checkpoint='CheckpointHook',
                                 weights_only_checkpoint='WeightsOnlyCheckpointHook')


def _hook_type(hook) -> str:
    return hook['type'].split('.')[-1]  # 'locca_mm.StepSeedHook' counts as well


def test_pretraining_configs_are_all_checked():
    assert len(PRETRAIN_CONFIGS) == 12
    assert all('_base_' not in p for p in PRETRAIN_CONFIGS)


@pytest.mark.parametrize('path', PRETRAIN_CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in PRETRAIN_CONFIGS])
def test_pretraining_config_enables_the_reliability_hooks(path):
    from mmengine.config import Config
    cfg = Config.fromfile(path)  # merged with its _base_ files
    custom = [_hook_type(h) for h in cfg.get('custom_hooks', [])]
    for name in RELIABILITY_CUSTOM_HOOKS:
        assert custom.count(name) == 1, f'{name} missing from custom_hooks: {custom}'
    defaults = cfg.get('default_hooks', {})
    for key, name in RELIABILITY_DEFAULT_HOOKS.items():
        hook = defaults.get(key)
        assert hook is not None, f'default_hooks.{key} is missing or disabled (None)'
        assert _hook_type(hook) == name
    assert defaults['checkpoint'].get('interval', 1) > 0
