"""Converters: big_vision .npz and timm ViTs give LocCaViT the same features (within 1e-5)."""
import numpy as np
import pytest
import torch

from locca_mm.models import LocCaViT
from locca_mm.models.backbones.converters import (
    big_vision_to_locca,
    big_vision_vit_forward,
    timm_to_locca,
)
from locca_mm.models.layers import resize_pos_embed
from tests.conftest import run_tool

from .utils import ARCH

ENC = 'MultiHeadDotProductAttention_0'


def _convert(tool: str, *argv) -> str:
    """Run ``tools/model_converters/<tool>``; what it prints."""
    proc = run_tool([f'model_converters/{tool}', *map(str, argv)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def to_big_vision(model: LocCaViT, root: str = 'params/img/', scan: bool = False) -> dict:
    """A LocCaViT written in big_vision's names and layouts (flax kernels are [in, out])."""
    s = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    d = model.embed_dims
    h = model.blocks[0].attn.num_heads
    out = {'embedding/kernel': s['patch_embed.proj.weight'].transpose(2, 3, 1, 0),
           'embedding/bias': s['patch_embed.proj.bias'],
           'Transformer/encoder_norm/scale': s['norm.weight'],
           'Transformer/encoder_norm/bias': s['norm.bias'],
           'head/kernel': np.zeros((d, 10), np.float32), 'head/bias': np.zeros(10, np.float32)}
    if 'pos_embed' in s:  # a sin-cos model has no table
        out['pos_embedding'] = s['pos_embed']
    blocks = []
    for i in range(model.num_layers):
        b = f'blocks.{i}.'
        qkv_w = s[b + 'attn.qkv.weight'].reshape(3, d, d)  # [3, out, in]
        qkv_b = s[b + 'attn.qkv.bias'].reshape(3, h, d // h)
        blk = {'LayerNorm_0/scale': s[b + 'norm1.weight'], 'LayerNorm_0/bias': s[b + 'norm1.bias'],
               'LayerNorm_1/scale': s[b + 'norm2.weight'], 'LayerNorm_1/bias': s[b + 'norm2.bias'],
               f'{ENC}/out/kernel': s[b + 'attn.proj.weight'].T.reshape(h, d // h, d),
               f'{ENC}/out/bias': s[b + 'attn.proj.bias']}
        for j, name in enumerate(('query', 'key', 'value')):
            blk[f'{ENC}/{name}/kernel'] = qkv_w[j].T.reshape(d, h, d // h)
            blk[f'{ENC}/{name}/bias'] = qkv_b[j]
        for j in (0, 1):
            blk[f'MlpBlock_0/Dense_{j}/kernel'] = s[f'{b}mlp.fc{j + 1}.weight'].T
            blk[f'MlpBlock_0/Dense_{j}/bias'] = s[f'{b}mlp.fc{j + 1}.bias']
        blocks.append(blk)
    if scan:  # nn.scan stacks the blocks' parameters on a leading axis
        for k in blocks[0]:
            out[f'Transformer/encoderblock/{k}'] = np.stack([blk[k] for blk in blocks])
    else:
        for i, blk in enumerate(blocks):
            out.update({f'Transformer/encoderblock_{i}/{k}': v for k, v in blk.items()})
    out = {root + k: np.ascontiguousarray(v) for k, v in out.items()}
    if root:  # another tower next to the image one: ignored
        out[root.replace('img', 'txt') + 'Embed_0/embedding'] = np.zeros((5, d), np.float32)
    return out


def _random_vit(**kwargs):
    torch.manual_seed(0)
    model = LocCaViT(arch=ARCH, img_size=64, patch_size=16, **kwargs)
    with torch.no_grad():
        for p in model.parameters():  # away from the init's ones and zeros
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.mark.parametrize('root,scan', [('params/img/', False), ('', False), ('img/', True)])
def test_big_vision_npz_gives_the_same_features(tmp_path, root, scan):
    model = _random_vit()
    params = to_big_vision(model, root, scan)
    npz = tmp_path / 'vit.npz'
    np.savez(npz, **params)
    out = tmp_path / 'encoder.pth'
    printed = _convert('big_vision_vit.py', npz, out, '--check')
    assert 'check: max |LocCaViT - big_vision|' in printed and "'num_heads': 2" in printed

    loaded = LocCaViT(arch=ARCH, img_size=64, patch_size=16,
                      init_cfg=dict(type='Pretrained', checkpoint=str(out), prefix='backbone.'))
    loaded.init_weights()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
        assert (loaded.eval()(x)[0] - expected).abs().max() < 1e-5
        # big_vision's own computation on the .npz arrays agrees (with the exact GELU).
        reference = big_vision_vit_forward(params, x, approximate_gelu=False)
        assert (reference - expected).abs().max() < 1e-5
        # Its tanh GELU is a small, known difference.
        assert (big_vision_vit_forward(params, x) - expected).abs().max() < 1e-2


def test_big_vision_resampling_and_sincos(tmp_path):
    model = _random_vit()
    params = to_big_vision(model)
    converted = big_vision_to_locca(params).at_img_size(128)
    assert converted.backbone['img_size'] == 128
    expected = resize_pos_embed(model.pos_embed.detach(), (4, 4), (8, 8), mode='bicubic',
                                num_extra_tokens=0)
    assert torch.allclose(converted.state_dict['pos_embed'], expected)
    assert any('resampled from 4x4 to 8x8' in n for n in converted.notes)
    # Without a learned table the model used big_vision's fixed sin-cos one.
    sincos = _random_vit(pos_embed='sincos2d')
    params = to_big_vision(sincos, root='')
    converted = big_vision_to_locca(params)
    assert converted.backbone['pos_embed'] == 'sincos2d'
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = LocCaViT(arch=ARCH, img_size=64, pos_embed='sincos2d').eval()
        out.load_state_dict(converted.state_dict)
        assert (out(x)[0] - sincos(x)[0]).abs().max() < 1e-5


def test_big_vision_unknown_parameters_are_named(tmp_path):
    params = to_big_vision(_random_vit())
    params['params/img/Transformer/encoderblock_0/Extra_0/kernel'] = np.zeros(3, np.float32)
    with pytest.raises(KeyError, match='encoderblock_0/Extra_0/kernel'):
        big_vision_to_locca(params)
    with pytest.raises(KeyError, match='not a big_vision ViT'):
        big_vision_to_locca({'encoder/kernel': np.zeros(3)})


def _timm(**kwargs):
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    model = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0,
                              img_size=64, **kwargs)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.mark.parametrize('kwargs', [
    dict(class_token=False, global_pool='avg'),  # a LocCa-like encoder
    dict(init_values=0.5),  # a class token (its position in pos_embed) and LayerScale
])
def test_timm_vit_gives_the_same_features(kwargs):
    ref = _timm(**kwargs)
    converted = timm_to_locca(ref.state_dict(), num_heads=3)
    with_cls = 'class_token' not in kwargs
    assert converted.backbone['with_cls_token'] == with_cls
    model = LocCaViT(**converted.backbone).eval()
    model.load_state_dict(converted.state_dict)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        diff = (model(x)[0] - ref.forward_features(x)).abs().max()
    assert diff < 1e-5


def test_timm_tool_checks_and_drops_the_class_token(tmp_path):
    ref = _timm()
    src = tmp_path / 'timm.pth'
    torch.save({'model': ref.state_dict()}, src)
    out = tmp_path / 'encoder.pth'
    printed = _convert('timm_vit.py', src, out, '--drop-prefix-tokens', '--img-size', '128')
    assert 'dropped 1 prefix token' in printed
    state = torch.load(out, weights_only=True)['state_dict']
    assert 'backbone.cls_token' not in state
    assert state['backbone.pos_embed'].shape == (1, 64, 192)  # patches only, 8 x 8
    # By default the table is resampled as timm resamples it (resample_abs_pos_embed:
    # bicubic, antialiased); --resample bicubic is LocCaViT's own (no antialiasing).
    from timm.layers import resample_abs_pos_embed
    patch_pos = ref.pos_embed.detach()[:, 1:]
    expected = resample_abs_pos_embed(patch_pos, [8, 8], num_prefix_tokens=0)
    assert torch.allclose(state['backbone.pos_embed'], expected)
    _convert('timm_vit.py', src, out, '--drop-prefix-tokens', '--img-size', '128',
             '--resample', 'bicubic')
    state = torch.load(out, weights_only=True)['state_dict']
    ours = resize_pos_embed(patch_pos, (4, 4), (8, 8), mode='bicubic', num_extra_tokens=0)
    assert torch.allclose(state['backbone.pos_embed'], ours)
    assert not torch.allclose(ours, expected, atol=1e-4)
    printed = _convert('timm_vit.py', '--model', 'vit_tiny_patch16_224', out, '--check')
    diff = float(printed.split('max |LocCaViT - timm| = ')[1].split()[0])
    assert diff < 1e-5


def test_timm_parts_without_a_counterpart_are_named():
    state = _timm(reg_tokens=4, no_embed_class=True).state_dict()
    with pytest.raises(KeyError, match='reg_token'):
        timm_to_locca(state)
    assert 'cls_token' not in timm_to_locca(state, drop_prefix_tokens=True).state_dict
    state = _timm(qk_norm=True).state_dict()
    with pytest.raises(KeyError, match=r'blocks\.0\.attn\.q_norm\.weight'):
        timm_to_locca(state)
