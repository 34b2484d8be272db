"""Each pretraining config trains a tiny variant with falling loss."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from tests.conftest import ROOT
from tests.test_models.utils import CAP_B, CAPPA_B, CLIP_B, COCA_B, LOCCA_B, build_tiny, make_batch

TASKS = {LOCCA_B: ('cap', 'aref', 'gcap'), CAP_B: ('cap', ),
         CAPPA_B: ('cap', ), COCA_B: ('cap', ), CLIP_B: ('cap', )}


@pytest.mark.parametrize('config', sorted(TASKS))
def test_tiny_variant_trains(config):
    model = build_tiny(config)
    batch = make_batch(model, n=4, tasks=TASKS[config])
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(25):
        losses = model(**batch, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        history.append(float(loss.detach()))
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5, history


def test_locca_l_config_builds_the_large_encoder():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/locca/locca_vit-l16_256xb32-1100k_webli.py')
    assert cfg.model.backbone.arch == 'l'
    assert cfg.optim_wrapper.optimizer.type == 'ScalingViTAdafactor'
    assert cfg.model.tokenizer == cfg.tokenizer  # one entry for model and pipeline


@pytest.mark.parametrize('config,task,loss_on', [
    (LOCCA_B, 'aref', ('text', 'box')),
    (LOCCA_B, 'gcap', ('box', 'text')),
    ('locca/locca-no-aref-text-loss_vit-b16_256xb32-1100k_webli', 'aref', ('box', )),
    ('locca/locca-no-gcap-box-loss_vit-b16_256xb32-1100k_webli', 'gcap', ('text', )),
])
def test_table7_ablations_change_only_the_loss_span(config, task, loss_on):
    from locca_mm.tokenizers import build_tokenizer
    from tests.test_models.utils import TINY_TOKENIZER
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{config}.py'))
    tok = build_tokenizer(dict(TINY_TOKENIZER, loss_on=cfg.model.tokenizer.loss_on))
    assert tok.loss_on[task] == loss_on
    base = Config.fromfile(osp.join(ROOT, 'configs', f'{LOCCA_B}.py'))
    assert cfg.model.backbone == base.model.backbone and cfg.model.head == base.model.head


def _locca_configs():
    import glob
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        if '_base_' not in path:
            yield osp.relpath(path, osp.join(ROOT, 'configs'))[:-3]


def test_decoder_sizes_are_explicit_and_follow_the_encoder():
    """Every LocCa config gives its decoder's width, heads and depth, and they are the
    encoder's width and heads and half its depth (the CapPa recipe) — the sizes the model
    used to take from the encoder unseen."""
    from locca_mm.models.backbones import LocCaViT
    checked = []
    for config in _locca_configs():
        if config.split('/')[0] in ('mmdet', 'mmseg', 'mmpretrain'):
            continue  # the encoder in another package's model: no text decoder
        model = Config.fromfile(osp.join(ROOT, 'configs', f'{config}.py')).get('model') or {}
        if str(model.get('type', '')).split('.')[-1] != 'LocCa' or not model.get('head'):
            continue
        arch = LocCaViT.parse_arch(model['backbone'].get('arch', 'b'))
        decoder = model['head']['decoder']
        expected = dict(embed_dims=arch['embed_dims'], num_heads=arch['num_heads'],
                        num_layers=arch['num_layers'] // 2)
        if decoder.get('num_unimodal_layers'):  # CoCa: unimodal + multimodal layers
            expected['num_layers'] = arch['num_layers']
        assert {k: decoder.get(k) for k in expected} == expected, config
        checked.append(config)
    # The L configs put an L encoder on a B base: their decoder must be L's too.
    assert {'locca/locca_vit-l16_256xb32-1100k_webli', 'refcoco/rec-frozen_locca-vit-l_refcoco',
            'locca/locca_vit-l16_256xb32-fsdp-1100k_webli'} <= set(checked)
    assert len(checked) >= 18, checked
