"""LocCaViT: parity with mmpretrain's ViT, dense outputs, pos-embed resampling, loading."""
import pytest
import torch

from locca_mm.models import LocCaViT
from locca_mm.models.layers import resize_pos_embed, sincos_2d
from tests.test_models.utils import TINY_ARCH


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_vit_b_parameter_count_matches_mmpretrain():
    from mmpretrain.models import VisionTransformer
    ours = LocCaViT(arch='b')
    ref = VisionTransformer(arch='b', with_cls_token=False, out_type='featmap')
    # Same blocks, patch embedding (conv with bias), learned [1, 196, 768]
    # position table and final LayerNorm; no class token in either.
    assert _count(ours) == _count(ref) == 85_797_120
    # Differences by design: names (timm-style), no cls token, and the sin-cos
    # option, which has no parameters at all.
    assert _count(LocCaViT(arch='b', pos_embed='sincos2d')) == 85_797_120 - 196 * 768


@pytest.mark.parametrize('size,grid', [(224, 14), (512, 32)])
def test_featmap_shapes(size, grid):
    model = LocCaViT(arch=TINY_ARCH, img_size=224, patch_size=16, out_type='featmap',
                     out_indices=(0, 1)).eval()
    outs = model(torch.randn(2, 3, size, size))
    assert [tuple(o.shape) for o in outs] == [(2, 32, grid, grid)] * 2


def test_tokens_output_and_final_norm():
    model = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8).eval()
    (tokens, ) = model(torch.randn(3, 3, 32, 32))
    assert tokens.shape == (3, 16, 32)
    # The final LayerNorm (no affine change at init) leaves every token zero-mean, unit-var.
    assert torch.allclose(tokens.mean(-1), torch.zeros(3, 16), atol=1e-5)


def test_pos_embed_resampled_on_load():
    src = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8)  # 4 x 4 grid
    dst = LocCaViT(arch=TINY_ARCH, img_size=64, patch_size=8)  # 8 x 8 grid
    dst.load_state_dict(src.state_dict())
    expected = resize_pos_embed(src.pos_embed.detach(), (4, 4), (8, 8), mode='bicubic',
                                num_extra_tokens=0)
    assert dst.pos_embed.shape == (1, 64, 32)
    assert torch.allclose(dst.pos_embed, expected)
    assert torch.equal(dst.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)


def test_other_input_size_resamples_on_the_fly():
    model = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8).eval()
    table = model.position_table((8, 8))
    assert torch.allclose(table, resize_pos_embed(model.pos_embed, (4, 4), (8, 8),
                                                  mode='bicubic', num_extra_tokens=0))
    assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 64, 32)


def test_sincos_table_is_fixed_and_unit_scale():
    model = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, pos_embed='sincos2d')
    assert model.pos_embed is None and 'pos_embed_table' not in model.state_dict()
    table = sincos_2d(4, 4, 32)
    assert torch.equal(model.position_table((4, 4)), table)  # the table: test_pos_embed.py


def test_frozen_stages_freezes_what_it_says():
    model = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, frozen_stages=1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert 'pos_embed' in frozen and 'patch_embed.proj.weight' in frozen
    assert all(n in frozen for n, _ in model.blocks[0].named_parameters(prefix='blocks.0'))
    assert not any(n.startswith('blocks.1') or n.startswith('norm') for n in frozen)
    model.train()
    assert not model.blocks[0].training and model.blocks[1].training
    everything = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, frozen_stages=2)
    assert not any(p.requires_grad for p in everything.parameters())


def test_activation_checkpointing_gives_same_gradients():
    torch.manual_seed(0)
    plain = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, drop_path_rate=0.0)
    ckpt = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    plain(x)[0].pow(2).mean().backward()
    ckpt(x)[0].pow(2).mean().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_fused_and_plain_attention_agree():
    torch.manual_seed(0)
    fused = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8).eval()
    plain = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, fused_attn=False).eval()
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(fused(x)[0], plain(x)[0], atol=1e-5)


def test_layer_depth_for_lr_decay():
    model = LocCaViT(arch=TINY_ARCH)
    assert model.get_layer_depth('backbone.pos_embed', 'backbone.') == (0, 4)
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.') == (0, 4)
    assert model.get_layer_depth('backbone.blocks.0.attn.qkv.weight', 'backbone.') == (1, 4)
    assert model.get_layer_depth('backbone.blocks.1.mlp.fc2.bias', 'backbone.') == (2, 4)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (3, 4)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (3, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match='unknown arch'):
        LocCaViT(arch='huge-ish')
    with pytest.raises(ValueError, match='out_type'):
        LocCaViT(arch=TINY_ARCH, out_type='cls')
    with pytest.raises(ValueError, match='keys'):
        LocCaViT(arch=dict(embed_dims=8))


def test_arch_names():
    vit_s = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)
    assert LocCaViT.parse_arch('vit-s') == LocCaViT.parse_arch('deit-s') == vit_s
    assert LocCaViT.parse_arch('base') == LocCaViT.parse_arch('B') == LocCaViT.arch_zoo['b']
    for name in ('s', 'small'):  # mmpretrain's 's'/'small' is another model: no guess
        with pytest.raises(ValueError, match='unknown arch'):
            LocCaViT.parse_arch(name)


def test_pretrained_init_marks_the_module_initialised(tmp_path):
    src = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8)
    path = tmp_path / 'enc.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}}, path)
    model = LocCaViT(arch=TINY_ARCH, img_size=32, patch_size=8, init_cfg=dict(
        type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    model.init_weights()
    assert model.is_init
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in model.state_dict().items())
