"""tools/model_converters/locca_to_timm.py: a LocCaViT (and MAP pooler) as a timm
VisionTransformer."""
import json

import pytest
import torch

from locca_mm.models import LocCaViT, MAPNeck
from locca_mm.models.backbones.converters import timm_to_locca
from locca_mm.utils.encoder_checkpoint import save_encoder
from tests.conftest import run_tool, tool_error

timm = pytest.importorskip('timm')

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256)
SIZE, PATCH = 32, 8
CONFIG = f"""
model = dict(
    type='ImageClassifier',
    backbone=dict(type='locca_mm.LocCaViT', arch={ARCH!r}, img_size={SIZE},
                  patch_size={PATCH}, out_type='featmap'),
    neck=dict(type='locca_mm.MAPNeck', in_channels=64, num_heads=2),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
"""


def _convert(*argv) -> str:
    """Run the tool; what it prints."""
    proc = run_tool(['model_converters/locca_to_timm.py', *map(str, argv)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _perturbed(*modules):
    """Random non-zero biases and norms too (the init zeroes them), in eval mode."""
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    return [m.eval() for m in modules]


def _timm_model(dst):
    """The timm model as the printed / DST.json instructions build it."""
    with open(f'{dst}.json') as f:
        meta = json.load(f)
    return timm.create_model(meta['model_name'], **meta['kwargs']).eval(), meta


def test_map_pooler_from_a_full_checkpoint(tmp_path):
    """Probe checkpoint + config -> safetensors; timm's tokens and MAP vector are ours."""
    torch.manual_seed(0)
    backbone, neck = _perturbed(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH),
                                MAPNeck(64, num_heads=2))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({f'neck.{k}': v for k, v in neck.state_dict().items()})
    state['head.fc.weight'] = torch.zeros(10, 64)
    src, config, dst = tmp_path / 'probe.pth', tmp_path / 'cfg.py', tmp_path / 'vit.safetensors'
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, src)
    config.write_text(CONFIG)

    out = _convert(src, dst, '--config', config, '--check')
    assert "timm.create_model('vit_base_patch16_224', pretrained=True" in out
    assert float(out.split('max |LocCaViT - timm| = ')[1].split()[0]) < 1e-5
    model, meta = _timm_model(dst)
    assert meta['kwargs']['global_pool'] == 'map' and meta['kwargs']['class_token'] is False
    assert meta['kwargs']['pretrained_cfg_overlay']['mean'] == pytest.approx([0.485, 0.456, 0.406])
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        tokens = backbone(x)[0]
        features = model.forward_features(x)
        assert (features - tokens).abs().max() < 1e-5
        pooled = model.forward_head(features, pre_logits=True)
        assert (pooled - neck(tokens)[0]).abs().max() < 1e-5

    # ... and back through the timm -> LocCaViT converter: the same weights.
    from safetensors.torch import load_file
    back = timm_to_locca(load_file(str(dst)), num_heads=2)
    assert back.backbone['img_size'] == SIZE and back.backbone['pos_embed'] == 'learn'
    assert sorted(back.state_dict) == sorted(backbone.state_dict())
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in back.state_dict.items())


@pytest.mark.parametrize('kwargs', [
    dict(pos_embed='sincos2d'),
    dict(with_cls_token=True, final_norm=False),
])
def test_gap_from_an_encoder_file(tmp_path, kwargs):
    """Encoder file, no config (--num-heads) -> .pth with GAP; sin-cos / class token kept."""
    torch.manual_seed(1)
    backbone, = _perturbed(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH, **kwargs))
    src, dst = tmp_path / 'encoder.pth', tmp_path / 'vit.pth'
    save_encoder(backbone.state_dict(), str(src), dict(source='test'))

    out = _convert(src, dst, '--num-heads', '2', '--img-size', SIZE)
    assert "global_pool='avg'" in out and 'fc_norm=False' in out
    model, meta = _timm_model(dst)
    assert meta['kwargs']['class_token'] == kwargs.get('with_cls_token', False)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        tokens = backbone(x)[0]
        features = model.forward_features(x)
        assert (features - tokens).abs().max() < 1e-5
        assert (model.forward_head(features, pre_logits=True) - tokens.mean(1)).abs().max() < 1e-5

    back = timm_to_locca(torch.load(dst, weights_only=True), num_heads=2)
    expected = dict(backbone.state_dict())
    if 'pos_embed' not in expected:  # the sin-cos table is exported as a learned one
        expected['pos_embed'] = backbone.pos_embed_table
    assert sorted(back.state_dict) == sorted(expected)
    assert all(torch.equal(v, expected[k]) for k, v in back.state_dict.items())


def test_bad_input_is_one_named_error(tmp_path):
    """Missing file, no backbone keys, unknown heads, no pooler: one error line each."""

    def error(*argv):
        """The tool's one-line error for ``argv`` (exit code 1)."""
        return tool_error(run_tool(['model_converters/locca_to_timm.py', *map(str, argv)]))

    dst = tmp_path / 'out.safetensors'
    assert 'checkpoint not found' in error(tmp_path / 'none.pth', dst)
    bare = tmp_path / 'bare.pth'
    torch.save({'state_dict': {'encoder.w': torch.zeros(2)}}, bare)
    err = error(bare, dst)
    assert str(bare) in err and "no parameters under the prefix 'backbone.'" in err
    wide = tmp_path / 'wide.pth'  # width 64 is no LocCaViT arch: the heads are unknown
    save_encoder(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH).state_dict(), str(wide))
    assert 'number of attention heads' in error(wide, dst)
    assert 'no MAP pooler' in error(wide, dst, '--num-heads', 2, '--global-pool', 'map')
    assert not dst.exists()


def test_tanh_gelu_encoder_exports_with_timm_gelu_tanh():
    """A big_vision-converted encoder (tanh GELU) stays the same function in timm."""
    from locca_mm.models.backbones.converters import locca_to_timm
    act = dict(type='GELU', approximate='tanh')
    torch.manual_seed(2)
    backbone, = _perturbed(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH, act_cfg=act))
    export = locca_to_timm(backbone.state_dict(), backbone=dict(arch=ARCH, act_cfg=act))
    assert export.model_kwargs['act_layer'] == 'gelu_tanh'
    model = timm.create_model('vit_base_patch16_224', **export.model_kwargs).eval()
    model.load_state_dict(export.state_dict)
    x = torch.randn(2, 3, SIZE, SIZE) * 3  # large activations: the two GELUs differ there
    with torch.no_grad():
        assert (model.forward_features(x) - backbone(x)[0]).abs().max() < 1e-5
    with pytest.raises(ValueError, match="act_cfg=.*ReLU.*only the exact and the tanh GELU"):
        locca_to_timm(backbone.state_dict(), backbone=dict(arch=ARCH, act_cfg=dict(type='ReLU')))
