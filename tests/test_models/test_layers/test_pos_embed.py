"""Position embeddings: big_vision's 2-D sin-cos table (not mmpretrain's), grids, resampling."""
import numpy as np
import pytest
import torch

from locca_mm.models.layers import (
    extend_table,
    grid_size_of,
    resize_pos_embed,
    sincos_1d,
    sincos_2d,
)


def _big_vision_posemb_sincos_2d(h, w, width, temperature=10_000.0):
    """big_vision's ``posemb_sincos_2d`` (models/vit.py) in numpy, float32 as in jax."""
    y, x = np.mgrid[:h, :w]
    omega = np.arange(width // 4, dtype=np.float32) / np.float32(width // 4 - 1)
    omega = (1.0 / (temperature**omega)).astype(np.float32)
    y = np.einsum('m,d->md', y.flatten().astype(np.float32), omega)
    x = np.einsum('m,d->md', x.flatten().astype(np.float32), omega)
    return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)[None]


@pytest.mark.parametrize('h,w,dim', [(4, 4, 32), (3, 5, 16), (14, 14, 768)])
def test_sincos_2d_is_big_vision_table(h, w, dim):
    ours = sincos_2d(h, w, dim)
    assert ours.shape == (1, h * w, dim) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), _big_vision_posemb_sincos_2d(h, w, dim),
                               rtol=0, atol=1e-5)  # float32 sin: ulps apart


def test_mmpretrain_table_differs_so_ours_stays():
    """mmpretrain's ``build_2d_sincos_position_embedding`` is not big_vision's: its
    frequencies divide by ``dim // 4`` (big_vision: ``dim // 4 - 1``) and its rows run
    column-major (x outer). Swapping it in would move every LocCaViT(pos_embed='sincos2d')."""
    from mmpretrain.models.utils import build_2d_sincos_position_embedding
    h, w, dim = 3, 5, 16
    theirs = build_2d_sincos_position_embedding((h, w), dim)
    assert theirs.shape == (1, h * w, dim)
    assert not torch.allclose(theirs, sincos_2d(h, w, dim), atol=1e-3)
    # Reproduced with those two changes, exactly:
    quarter = dim // 4
    omega = 1.0 / 10_000.0**(torch.arange(quarter, dtype=torch.float32) / quarter)
    x, y = torch.meshgrid(torch.arange(w, dtype=torch.float32),
                          torch.arange(h, dtype=torch.float32), indexing='ij')
    x, y = x.flatten()[:, None] * omega, y.flatten()[:, None] * omega
    assert torch.equal(theirs, torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], 1)[None])


def test_sincos_2d_has_unit_scale():
    # sin^2 + cos^2 = 1 per frequency: every row has squared norm dim / 2.
    table = sincos_2d(4, 4, 32)
    assert torch.allclose(table.pow(2).sum(-1), torch.full((1, 16), 16.0))


def test_sincos_1d_and_bad_widths():
    codes = sincos_1d(5, 8)
    assert codes.shape == (5, 8)
    assert torch.equal(codes[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    with pytest.raises(ValueError, match='even'):
        sincos_1d(5, 7)
    with pytest.raises(ValueError, match='divisible by 4'):
        sincos_2d(2, 2, 6)


def test_grid_size_of_and_resize():
    assert grid_size_of(196) == (14, 14)
    with pytest.raises(ValueError, match='square grid'):
        grid_size_of(15)
    table = torch.randn(1, 16, 8)
    assert resize_pos_embed(table, (4, 4), (8, 6)).shape == (1, 48, 8)
    assert torch.allclose(resize_pos_embed(table, (4, 4), (4, 4)), table)


def test_extend_table_fills_leading_rows_only_when_shorter():
    target = torch.randn(1, 20, 8)
    given = torch.randn(1, 12, 8)
    out = extend_table(given, target, dim=1)
    assert out.shape == target.shape
    assert torch.equal(out[:, :12], given) and torch.equal(out[:, 12:], target[:, 12:])
    vocab = torch.randn(72, 32)
    rows = torch.randn(64, 32)
    out = extend_table(rows, vocab, dim=0)
    assert torch.equal(out[:64], rows) and torch.equal(out[64:], vocab[64:])
    # Anything else comes back as given, so the load still reports the mismatch.
    for other, dim in ((torch.randn(1, 24, 8), 1), (torch.randn(2, 12, 8), 1),
                       (torch.randn(1, 12, 4), 1), (torch.randn(12, 8), 1)):
        assert extend_table(other, target, dim) is other


def test_shorter_tables_load_into_the_decoder_and_the_siglip_text_tower():
    """The two users: a LocCa checkpoint with fewer decoder positions, a released text tower
    with a smaller vocabulary than the tokenizer's (location tokens appended)."""
    from locca_mm.models.text import SigLIPTextEncoder
    small = SigLIPTextEncoder(vocab_size=10, pad_id=0, embed_dims=16, num_layers=1,
                              num_heads=2, max_len=8)
    big = SigLIPTextEncoder(vocab_size=14, pad_id=0, embed_dims=16, num_layers=1,
                            num_heads=2, max_len=8)
    init = big.token_embed.weight.detach().clone()
    big.load_state_dict(small.state_dict())
    assert torch.equal(big.token_embed.weight[:10], small.token_embed.weight)
    assert torch.equal(big.token_embed.weight[10:], init[10:])
    from tests.test_models.utils import build_tiny
    short, long = build_tiny(), build_tiny(seed=1)
    state = short.state_dict()
    table = state['head.decoder.pos_embed']
    state['head.decoder.pos_embed'] = table[:, :table.shape[1] // 2]
    before = long.head.decoder.pos_embed.detach().clone()
    long.load_state_dict(state)
    half = table.shape[1] // 2
    assert torch.equal(long.head.decoder.pos_embed[:, :half], table[:, :half])
    assert torch.equal(long.head.decoder.pos_embed[:, half:], before[:, half:])
