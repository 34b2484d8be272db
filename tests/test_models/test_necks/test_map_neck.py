"""MAPNeck: one pooled vector per map or token set; timm's AttentionPoolLatent computes the same."""
import functools

import pytest
import torch

from locca_mm.models import MAPNeck


def _neck(dim=32, heads=4):
    torch.manual_seed(0)
    neck = MAPNeck(in_channels=dim, num_heads=heads).eval()
    with torch.no_grad():  # non-zero biases and norms too (the init zeroes some)
        for p in neck.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return neck


def test_maps_and_tokens_give_the_same_vector():
    neck = _neck()
    maps = torch.randn(2, 32, 3, 4)
    tokens = maps.flatten(2).transpose(1, 2)
    with torch.no_grad():
        (from_map, ) = neck(maps)
        from_tokens = neck((tokens, tokens))
    assert from_map.shape == (2, 32) and len(from_tokens) == 2
    assert torch.equal(from_map, from_tokens[0]) and torch.equal(from_map, from_tokens[1])


def test_matches_timm_attention_pool_latent():
    """The same weights in timm's names (as tools/model_converters/locca_to_timm.py writes them)."""
    timm_layers = pytest.importorskip('timm.layers')
    from locca_mm.models.backbones.converters.to_timm import _rename_pool
    neck = _neck()
    norm = functools.partial(torch.nn.LayerNorm, eps=1e-6)  # timm's ViT passes this eps
    ref = timm_layers.AttentionPoolLatent(32, num_heads=4, mlp_ratio=4.0, norm_layer=norm).eval()
    state = {k[len('attn_pool.'):]: v for k, v in _rename_pool(neck.pool.state_dict()).items()}
    ref.load_state_dict(state)
    tokens = torch.randn(3, 12, 32)
    with torch.no_grad():
        torch.testing.assert_close(neck(tokens)[0], ref(tokens), rtol=1e-5, atol=1e-6)
