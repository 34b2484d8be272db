"""Each pretraining config trains a tiny variant with falling loss."""
import pytest
import torch

from tests.test_models.utils import build_tiny, make_batch

TASKS = {'locca_vit_b': ('cap', 'aref', 'gcap'), 'cap_vit_b': ('cap', ),
         'cappa_vit_b': ('cap', ), 'coca_vit_b': ('cap', ), 'clip_vit_b': ('cap', )}


@pytest.mark.parametrize('config', sorted(TASKS))
def test_tiny_variant_trains(config):
    model = build_tiny(config)
    batch = make_batch(model, n=4, tasks=TASKS[config])
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(25):
        losses = model(**batch, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        history.append(float(loss))
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5, history


def test_locca_l_config_builds_the_large_encoder():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/locca_vit_l.py')
    assert cfg.model.backbone.arch == 'l'
    assert cfg.optim_wrapper.optimizer.type == 'ScalingViTAdafactor'
    assert cfg.model.tokenizer == cfg.tokenizer  # one entry for model and pipeline
