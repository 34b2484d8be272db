"""TextEncoder: CLIP's text tower — causal text-only blocks and a text-CLS embedding."""
import pytest
import torch

from locca_mm.models import TextEncoder

PAD, BOS, EOS = 0, 1, 2


def _encoder(**kwargs):
    torch.manual_seed(0)
    cfg = dict(vocab_size=50, pad_id=PAD, bos_id=BOS, embed_dims=32, num_layers=2, num_heads=2,
               max_len=16)
    cfg.update(kwargs)
    return TextEncoder(**cfg)


def test_every_block_is_text_only_and_keys_are_the_old_text_towers():
    encoder = _encoder()
    assert all(blk.cross_attn is None for blk in encoder.blocks)
    keys = set(encoder.state_dict())
    assert {'token_embed.weight', 'pos_embed', 'text_cls', 'text_norm.weight'} <= keys
    assert not any(k.startswith(('norm.', 'logit_layer.', 'head.')) for k in keys)


def test_forward_gives_hidden_states_and_text_embedding_is_its_own_method():
    encoder = _encoder()
    tokens = torch.tensor([[5, 6, EOS, PAD], [7, 8, 9, EOS]])
    hidden = encoder(tokens)
    assert isinstance(hidden, torch.Tensor) and hidden.shape == (2, 5, 32)  # [bos, tokens]
    emb = encoder.text_embedding(tokens)
    assert isinstance(emb, torch.Tensor) and emb.shape == (2, 32)


def test_text_embedding_does_not_depend_on_padding():
    encoder = _encoder()
    short = torch.tensor([[5, 6, EOS]])
    padded = torch.tensor([[5, 6, EOS, PAD, PAD, PAD]])
    a, b = encoder.text_embedding(short), encoder.text_embedding(padded)
    assert torch.allclose(a, b, atol=1e-6)


def test_too_long_input_is_refused():
    with pytest.raises(ValueError, match='max_len'):
        _encoder().text_embedding(torch.ones(1, 17, dtype=torch.long))
