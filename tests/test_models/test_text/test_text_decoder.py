"""TextDecoder: shifting, causal vs. parallel rows, CoCa's unimodal layers, zero-init logits,
one return type per method."""
import pytest
import torch

from locca_mm.models import TextDecoder, TextEncoder

PAD, BOS, EOS, MASK = 0, 1, 2, 3


def _decoder(**kwargs):
    torch.manual_seed(0)
    cfg = dict(vocab_size=50, pad_id=PAD, bos_id=BOS, mask_id=MASK, embed_dims=32,
               num_layers=2, num_heads=2, max_len=16)
    cfg.update(kwargs)
    return TextDecoder(**cfg)


def _capture_block_inputs(decoder):
    """Record the token ids the decoder embeds and the masks its first block gets."""
    seen = {}
    decoder.token_embed.register_forward_hook(lambda m, a, o: seen.__setitem__('ids', a[0]))

    def pre(module, args, kwargs):
        seen['attn_mask'] = kwargs.get('attn_mask')
        seen['is_causal'] = kwargs.get('is_causal')
    decoder.blocks[0].self_attn.register_forward_pre_hook(pre, with_kwargs=True)
    return seen


def test_logits_start_at_zero_and_inputs_are_shifted():
    decoder = _decoder()
    memory = decoder.project_memory(torch.randn(2, 5, 32))
    seen = _capture_block_inputs(decoder)
    tokens = torch.tensor([[5, 6, 7, EOS], [8, EOS, PAD, PAD]])
    logits = decoder(tokens, memory)
    assert logits.shape == (2, 4, 50) and torch.count_nonzero(logits) == 0
    assert seen['ids'].tolist() == [[BOS, 5, 6, 7], [BOS, 8, EOS, PAD]]
    assert seen['attn_mask'] is None and seen['is_causal'] is True


def test_parallel_rows_see_mask_tokens_and_full_attention():
    decoder = _decoder()
    memory = decoder.project_memory(torch.randn(2, 5, 32))
    seen = _capture_block_inputs(decoder)
    tokens = torch.tensor([[5, 6, 7, EOS], [8, 9, EOS, PAD]])
    decoder(tokens, memory, parallel=torch.tensor([True, False]))
    assert seen['ids'][0].tolist() == [MASK] * 4  # parallel row: every input is the mask
    assert seen['ids'][1].tolist() == [BOS, 8, 9, EOS]  # causal row unchanged
    mask = seen['attn_mask'][:, 0]
    assert mask[0].all()  # full attention over the row's 4 positions
    assert torch.equal(mask[1], torch.ones(4, 4, dtype=torch.bool).tril())


def test_parallel_rows_attend_to_every_position_padding_included():
    decoder = _decoder()
    valid = torch.tensor([[True, True, False, False], [True, True, False, False]])
    mask = decoder.attention_mask(valid, torch.tensor([True, False]))[:, 0]
    assert mask[0].all()  # the parallel row: the whole fixed-length row
    # The causal row: earlier positions, and not the input after its last real token.
    real_inputs = torch.tensor([True, True, True, False])
    assert torch.equal(mask[1], torch.ones(4, 4, dtype=torch.bool).tril() & real_inputs)


def test_parallel_logits_do_not_depend_on_the_caption_length():
    """At a fixed row length, what a parallel row predicts at a position is the same
    whether the caption ends there or later (no position reads where eos falls)."""
    decoder = _decoder()
    for p in decoder.logit_layer.parameters():
        torch.nn.init.normal_(p)
    memory = decoder.project_memory(torch.randn(1, 5, 32))
    short = torch.tensor([[5, 6, EOS, PAD, PAD, PAD, PAD, PAD]])
    long = torch.tensor([[9, 8, 7, 6, 5, 4, EOS, PAD]])
    every = torch.ones(1, 8, dtype=torch.bool)
    a = decoder(short, memory, parallel=torch.tensor([True]), logits_at=every)
    b = decoder(long, memory, parallel=torch.tensor([True]), logits_at=every)
    assert torch.allclose(a, b, atol=1e-6)
    # The same rows decoded causally differ (their inputs are the captions).
    c = decoder(short, memory)
    d = decoder(long, memory)
    assert not torch.allclose(c[0, 1:], d[0, 1:])


def test_causal_rows_do_not_see_the_future():
    decoder = _decoder()
    for p in decoder.logit_layer.parameters():
        torch.nn.init.normal_(p)
    memory = decoder.project_memory(torch.randn(1, 5, 32))
    a = decoder(torch.tensor([[5, 6, 7, 8]]), memory)
    b = decoder(torch.tensor([[5, 6, 9, 9]]), memory)
    # Positions 0..2 read inputs bos,5,6 in both: identical; position 3 reads 7 vs 9.
    assert torch.allclose(a[0, :3], b[0, :3], atol=1e-6)
    assert not torch.allclose(a[0, 3], b[0, 3])


def test_coca_unimodal_layers_have_no_cross_attention_and_see_no_image():
    decoder = _decoder(num_layers=3, num_unimodal_layers=2, with_text_cls=True)
    assert [b.cross_attn is None for b in decoder.blocks] == [True, True, False]
    tokens = torch.tensor([[5, 6, EOS, PAD], [7, 8, 9, EOS]])
    m1 = decoder.project_memory(torch.randn(2, 5, 32))
    m2 = decoder.project_memory(torch.randn(2, 5, 32) * 3)
    _, emb1 = decoder.forward_with_text_embedding(tokens, m1)
    _, emb2 = decoder.forward_with_text_embedding(tokens, m2)
    assert torch.equal(emb1, emb2)  # the text embedding never saw the image
    assert len(m1.kv) == 1  # memory is projected for the multimodal layer only
    assert emb1.shape == (2, 32)


def test_each_method_returns_one_type():
    decoder = _decoder(num_layers=3, num_unimodal_layers=2, with_text_cls=True)
    for p in decoder.logit_layer.parameters():
        torch.nn.init.normal_(p)
    tokens = torch.tensor([[5, 6, EOS, PAD], [7, 8, 9, EOS]])
    memory = decoder.project_memory(torch.randn(2, 5, 32))
    logits = decoder(tokens, memory)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 4, 50)
    out = decoder.forward_with_text_embedding(tokens, memory)
    # One pass gives forward's logits and text_embedding's embedding.
    assert torch.allclose(out.logits, logits, atol=1e-5)
    assert torch.allclose(out.text_embedding, decoder.text_embedding(tokens), atol=1e-6)
    at = tokens != PAD
    assert torch.allclose(decoder(tokens, memory, logits_at=at), logits[at], atol=1e-6)


def test_the_unimodal_half_is_a_text_encoder():
    """CoCa's first layers compute what a TextEncoder of that depth computes."""
    decoder = _decoder(num_layers=3, num_unimodal_layers=2, with_text_cls=True)
    encoder = TextEncoder(vocab_size=50, pad_id=PAD, bos_id=BOS, embed_dims=32, num_layers=2,
                          num_heads=2, max_len=16)
    shared = {k: v for k, v in decoder.state_dict().items() if k in encoder.state_dict()}
    assert set(shared) == set(encoder.state_dict())  # the same keys, a subset of the decoder's
    encoder.load_state_dict(shared)
    tokens = torch.tensor([[5, 6, EOS, PAD]])
    assert torch.equal(encoder.text_embedding(tokens), decoder.text_embedding(tokens))


def test_initial_statistics_are_big_vision_capPa_decoders():
    """big_vision's CapPa decoder (models/proj/cappa/cappa.py, decoder_bias=False): token
    embeddings ~ N(0, 1) (EmbedTargets), a learned position table ~ N(0, 1/D), blocks
    without biases, the tanh GELU (flax nn.gelu), an output LayerNorm with a bias and a
    zero-kernel logit layer with a bias (LogitsDense)."""
    decoder = _decoder(embed_dims=64, vocab_size=2000)
    assert decoder.token_embed.weight.std().item() == pytest.approx(1.0, rel=0.02)
    assert decoder.pos_embed.std().item() == pytest.approx(64**-0.5, rel=0.1)
    block_params = dict(decoder.blocks.named_parameters())
    assert block_params and not [n for n in block_params if n.endswith('bias')]
    assert decoder.norm.bias is not None and decoder.logit_layer.bias is not None
    assert not decoder.logit_layer.weight.any() and not decoder.logit_layer.bias.any()
    act = decoder.blocks[0].mlp.act
    assert isinstance(act, torch.nn.GELU) and act.approximate == 'tanh'
    x = torch.linspace(-3, 3, 13)
    # flax's nn.gelu (approximate=True), written out:
    flax = 0.5 * x * (1 + torch.tanh((2 / torch.pi)**0.5 * (x + 0.044715 * x**3)))
    assert torch.allclose(act(x), flax, atol=1e-6)
    # Zero logits: every token starts equally likely.
    memory = decoder.project_memory(torch.randn(2, 5, 64))
    logits = decoder(torch.tensor([[5, 6, 7], [8, 9, 10]]), memory)
    assert not logits.any()


def test_bad_arguments():
    decoder = _decoder()
    memory = decoder.project_memory(torch.randn(1, 5, 32))
    with pytest.raises(ValueError, match='max_len'):
        decoder(torch.ones(1, 17, dtype=torch.long), memory)
    with pytest.raises(ValueError, match='text-CLS'):
        decoder.forward_with_text_embedding(torch.ones(1, 3, dtype=torch.long), memory)
    with pytest.raises(ValueError, match='num_unimodal_layers'):
        _decoder(num_unimodal_layers=5)
    with pytest.raises(ValueError, match='TextEncoder'):
        _decoder(num_unimodal_layers=2)  # text only: a TextEncoder


def test_memory_positions_reach_the_keys_only():
    plain = _decoder()
    with_pos = _decoder(memory_pos_embed=True)
    with_pos.load_state_dict(plain.state_dict())
    visual = torch.randn(2, 16, 32)  # a 4 x 4 grid
    (k0, v0), = plain.project_memory(visual).kv[:1]
    (k1, v1), = with_pos.project_memory(visual).kv[:1]
    assert torch.equal(v0, v1) and not torch.allclose(k0, k1)
    # Keys differ by the projected 2-D sin-cos code, the same for every image.
    from locca_mm.models.layers import sincos_2d, split_heads
    blk = plain.blocks[0].cross_attn
    pos = torch.nn.functional.linear(sincos_2d(4, 4, 32), blk.kv.weight[:32])
    assert torch.allclose(k1 - k0, split_heads(pos.expand(2, -1, -1), 2), atol=1e-5)


def test_location_embeddings_start_from_sincos_codes():
    from locca_mm.models.layers import sincos_1d
    decoder = _decoder(loc_offset=40, num_bins=10, loc_embed_init='sincos')
    rows = decoder.token_embed.weight[40:50].detach()
    # At the random rows' scale (std 1.0: RMS 1), the codes' own RMS being 1/sqrt(2).
    assert torch.allclose(rows, sincos_1d(10, 32) * 2**0.5)
    assert rows.square().mean().sqrt().item() == pytest.approx(1.0, rel=1e-5)
    # Neighbouring bins start closer than distant ones.
    assert torch.dist(rows[0], rows[1]) < torch.dist(rows[0], rows[9])
    with pytest.raises(ValueError, match='loc_embed_init'):
        _decoder(loc_embed_init='random')
