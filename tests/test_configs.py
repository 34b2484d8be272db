"""Every config parses with its bases, and what it promises is there."""
import glob
import os.path as osp

import pytest

from locca_mm.utils.cli import load_config
from tests.conftest import ROOT

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
            dataset = loader['dataset']
            inner = dataset.get('datasets', [dataset])
            for d in inner:
                if 'pipeline' in d and any(t.get('type') == 'BuildTaskSequences'
                                           for t in d['pipeline']):
                    assert d.get('tokenizer') == cfg.model.tokenizer  # one entry for both
    if cfg.get('encoder_from'):
        assert cfg.model.backbone.init_cfg['type'] == 'Pretrained'
        assert cfg.model.backbone.init_cfg['prefix'] == 'backbone.'


def test_shapes_vocabulary_in_config_matches_the_dataset():
    from locca_mm.datasets import SyntheticShapes
    cfg = load_config(osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-600it_shapes.py'))
    assert cfg.tokenizer.text_tokenizer.vocab == SyntheticShapes.vocabulary()
