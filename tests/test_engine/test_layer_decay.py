"""LayerDecayOptimWrapperConstructor: lr = base · rate^(L-1-depth), kernels-only weight decay."""
import pytest
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.models import VisionTransformer
from torch import nn

from locca_mm.engine import LayerDecayOptimWrapperConstructor, ScalingViTAdafactor

NUM_LAYERS = 3
L = NUM_LAYERS + 2  # patch/pos embed at depth 0, block i at i + 1, the rest at L - 1


class _Detector(nn.Module):
    """A transfer model: a backbone with get_layer_depth, a head, no get_layer_depth itself."""

    def __init__(self):
        super().__init__()
        # mmpretrain's ViT is the depth convention LocCaViT follows.
        self.backbone = VisionTransformer(
            arch=dict(embed_dims=16, num_layers=NUM_LAYERS, num_heads=2, feedforward_channels=32),
            img_size=32, patch_size=16)
        self.head = nn.Linear(16, 4)


def _build(model, optimizer=None, **paramwise_cfg):
    optimizer = optimizer or dict(type='AdamW', lr=1e-3, weight_decay=0.05)
    cfg = dict(optimizer=optimizer, constructor='LayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(layer_decay_rate=0.75, **paramwise_cfg))
    with DefaultScope.overwrite_default_scope('locca_mm'):
        return build_optim_wrapper(model, cfg)


def _groups_by_name(wrapper):
    return {g['param_name']: g for g in wrapper.optimizer.param_groups}


def test_lr_decays_by_depth_and_weight_decay_only_on_kernels():
    model = _Detector()
    groups = _groups_by_name(_build(model))
    assert set(groups) == {name for name, _ in model.named_parameters()}
    # base · 0.75^(L-1-depth) with L = 5.
    lr_of_depth = {0: 3.1640625e-4, 1: 4.21875e-4, 2: 5.625e-4, 3: 7.5e-4, 4: 1e-3}
    for name, group in groups.items():
        if name.startswith('backbone.layers.'):
            depth = int(name.split('.')[2]) + 1
        elif name.startswith(('backbone.patch_embed', 'backbone.pos_embed', 'backbone.cls_token')):
            depth = 0
        else:  # final norm and the head
            depth = L - 1
        assert group['lr'] == pytest.approx(lr_of_depth[depth], rel=1e-12), name
        assert group['lr'] == pytest.approx(1e-3 * 0.75**(L - 1 - depth), rel=1e-12), name
        embedding = name in ('backbone.pos_embed', 'backbone.cls_token')
        kernel = group['params'][0].dim() >= 2 and not embedding
        assert group['weight_decay'] == (0.05 if kernel else 0.0), name
    assert min(g['lr'] for g in groups.values()) == groups['backbone.pos_embed']['lr']
    assert groups['backbone.patch_embed.projection.weight']['lr'] == pytest.approx(3.1640625e-4)
    assert groups['backbone.layers.2.attn.qkv.weight']['lr'] == pytest.approx(7.5e-4)
    assert groups['head.weight']['lr'] == 1e-3 and groups['head.weight']['weight_decay'] == 0.05
    assert groups['head.bias']['weight_decay'] == 0.0
    assert groups['backbone.layers.0.ln1.weight']['weight_decay'] == 0.0


def test_config_overrides_the_no_decay_defaults():
    overrides = dict(flat_decay_mult=1.0, custom_keys={'pos_embed': dict(decay_mult=0.5)})
    groups = _groups_by_name(_build(_Detector(), kernels_only=False, **overrides))
    assert groups['backbone.pos_embed']['weight_decay'] == pytest.approx(0.025)
    assert groups['backbone.layers.0.attn.qkv.bias']['weight_decay'] == 0.05
    assert groups['backbone.cls_token']['weight_decay'] == 0.0
    # By default only kernels are decayed, whatever the multipliers say.
    strict = _groups_by_name(_build(_Detector(), **overrides))
    assert strict['backbone.pos_embed']['weight_decay'] == 0.0
    assert strict['backbone.layers.0.attn.qkv.bias']['weight_decay'] == 0.0
    assert strict['backbone.layers.0.attn.qkv.weight']['weight_decay'] == 0.05


def test_model_with_its_own_get_layer_depth_is_asked_first():
    model = _Detector()
    model.get_layer_depth = lambda name: (1, 2)  # every parameter at depth 1 of 2: scale 1
    groups = _groups_by_name(_build(model))
    assert {g['lr'] for g in groups.values()} == {1e-3}


def test_missing_weight_decay_keeps_the_optimizer_default():
    # ScalingViTAdafactor's default is 0; mmpretrain's constructor raises KeyError here.
    wrapper = _build(_Detector(), optimizer=dict(type='ScalingViTAdafactor', lr=1e-3))
    assert isinstance(wrapper.optimizer, ScalingViTAdafactor)
    assert {g['weight_decay'] for g in wrapper.optimizer.param_groups} == {0.0}
    adamw = _build(_Detector(), optimizer=dict(type='AdamW', lr=1e-3))
    assert _groups_by_name(adamw)['head.weight']['weight_decay'] == 0.01  # AdamW's default


def test_frozen_parameters_are_left_out():
    model = _Detector()
    model.backbone.patch_embed.requires_grad_(False)
    groups = _groups_by_name(_build(model))
    assert not any(name.startswith('backbone.patch_embed') for name in groups)


def test_backbone_without_get_layer_depth_is_a_clear_error():
    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match='get_layer_depth'):
        LayerDecayOptimWrapperConstructor(
            dict(optimizer=dict(type='SGD', lr=0.1)), dict(layer_decay_rate=0.5))(model)
