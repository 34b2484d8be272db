"""Weight decay on kernels only, name by name, for every pretraining config's optimizer."""
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper as _build
from mmengine.registry import DefaultScope

from tests.conftest import ROOT
from tests.test_models.utils import (
    CAP_B,
    CAP_TINY,
    CAPPA_B,
    CLIP_B,
    COCA_B,
    LOCCA_B,
    LOCCA_L,
    LOCCA_TINY,
    build_tiny,
)

# The kernels: matrices of dense layers (attention, MLP, pooler, projections, the logit
# layer) and the patch-embedding convolution. Everything else is not decayed.
KERNEL = re.compile(r'(\.(qkv|q|kv|proj|fc1|fc2)|decoder\.(head|logit_layer)|image_proj|text_proj)'
                    r'\.weight$')
NOT_KERNEL = re.compile(r'(norm\d?\.(weight|bias)|\.bias|pos_embed|token_embed\.weight|'
                        r'text_cls|query|logit_scale|logit_bias)$')


@pytest.fixture(autouse=True)
def _locca_scope():
    """Build in locca_mm's scope whatever an earlier test (a runner) left as the default."""
    with DefaultScope.overwrite_default_scope('locca_mm'):
        yield


def build_optim_wrapper(model, cfg):
    import locca_mm.engine  # noqa: F401 - registers the constructor
    with DefaultScope.overwrite_default_scope('locca_mm'):
        return _build(model, cfg)


def _decay_by_name(model, optim_wrapper):
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            out[names[id(p)]] = group['weight_decay']
    return out


@pytest.mark.parametrize('config', [LOCCA_B, CAP_B, CAPPA_B, COCA_B,
                                    CLIP_B])
@pytest.mark.parametrize('schedule', ['adafactor_cosine', 'adamw_cosine'])
def test_weight_decay_on_kernels_only(config, schedule):
    model = build_tiny(config)
    cfg = Config.fromfile(f'{ROOT}/configs/_base_/schedules/{schedule}.py').optim_wrapper
    wd = cfg.optimizer.weight_decay
    decay = _decay_by_name(model, build_optim_wrapper(model, cfg))
    assert set(decay) == {n for n, _ in model.named_parameters()}
    for name, value in decay.items():
        kernel, other = bool(KERNEL.search(name)), bool(NOT_KERNEL.search(name))
        assert kernel != other, f'{name}: the test names it neither or both'
        assert value == (wd if kernel else 0.0), name
    # A handful of groups, not one per parameter.
    assert len(build_optim_wrapper(model, cfg).optimizer.param_groups) == 2


def test_pretraining_configs_use_it():
    for name in (LOCCA_B, LOCCA_L, CAP_B, CAPPA_B, COCA_B,
                 CLIP_B, LOCCA_TINY, CAP_TINY,
                 'shapes/rec_tiny_shapes', 'refcoco/rec-frozen_locca-vit-b_refcoco'):
        cfg = Config.fromfile(f'{ROOT}/configs/{name}.py')
        assert cfg.optim_wrapper.get('constructor') == 'KernelDecayOptimWrapperConstructor', name


def test_custom_keys_still_apply_and_frozen_parameters_stay_out_of_the_update():
    model = build_tiny(LOCCA_B)
    torch.nn.init.normal_(model.head.decoder.logit_layer.weight, std=0.1)  # gradients reach all
    model.backbone.requires_grad_(False)
    cfg = dict(constructor='KernelDecayOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
               paramwise_cfg=dict(custom_keys={'head.decoder.logit_layer': dict(lr_mult=0.5)}))
    wrapper = build_optim_wrapper(model, cfg)
    groups = {(g['lr'], g['weight_decay']): len(g['params'])
              for g in wrapper.optimizer.param_groups}
    assert (5e-4, 0.1) in groups  # the logit layer: its lr multiplier, a kernel's decay
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    from tests.test_models.utils import make_batch
    loss = sum(model(**make_batch(model), mode='loss').values())
    wrapper.update_params(loss)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) == n.startswith('backbone.'), n
