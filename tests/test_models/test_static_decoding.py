"""Decoding over static KV caches (``generate(static_cache=True, compile_step=...)``): the
same tokens as the dynamic cache, one shape per step, one graph per step."""
import pytest
import torch

from locca_mm.models.decoding import GenerationControls, TextConstraint, generate
from locca_mm.models.decoding.steppers import _BUFFERS, left_pad
from locca_mm.models.layers import StaticKVCache
from tests.test_models.test_decoding import _setup


def _decode(model, memory, tok, prompts, new=12, **kw):
    text = tok.text_tokenizer
    constraint = TextConstraint(text.text_token_mask(), text.eos_id)
    return generate(model.head.decoder, memory, prompts, constraint, text.eos_id, new, **kw)


@pytest.mark.parametrize('kw', [dict(), dict(num_beams=3),
                                dict(controls=GenerationControls(repetition_penalty=1.3,
                                                                 no_repeat_ngram_size=2))])
def test_static_cache_decodes_the_dynamic_cache_tokens(kw):
    model, memory, tok, prompts = _setup()  # left-padded prompts of 2..5 tokens
    dynamic = _decode(model, memory, tok, prompts, **kw)
    static = _decode(model, memory, tok, prompts, static_cache=True, **kw)
    assert torch.equal(static.tokens, dynamic.tokens)
    assert torch.equal(static.lengths, dynamic.lengths)
    torch.testing.assert_close(static.scores, dynamic.scores, atol=1e-4, rtol=1e-5)
    assert (dynamic.lengths > 1).any()  # something was generated, not an immediate eos


def _prefilled(extra=4):
    """A decoder whose static caches hold the left-padded prompts, and what a step needs."""
    model, memory, tok, prompts = _setup()
    decoder = model.head.decoder
    inputs, positions, valid = left_pad(prompts, decoder.bos_id, decoder.pad_id)
    capacity = inputs.shape[1] + extra
    write_at = torch.zeros((), dtype=torch.long)
    caches = decoder.new_static_cache(capacity, write_at)
    key_valid = torch.cat([valid, valid.new_ones(len(prompts), extra)], 1)
    with torch.no_grad():
        decoder.step(inputs, positions, memory, caches, key_valid, capacity)
    write_at.add_(inputs.shape[1])
    step_args = (inputs[:, -1:], positions[:, -1:] + 1, memory, caches, key_valid, capacity)
    return model, caches, step_args


def test_static_cache_keeps_its_buffers_and_shape():
    model, caches, args = _prefilled()
    decoder, prompt_len = model.head.decoder, args[-1] - 4
    first = caches[0].k
    assert first.shape[2] == args[-1] and isinstance(caches[0], StaticKVCache)
    with torch.no_grad():
        decoder.step(*args)
    assert caches[0].k is first  # written in place: the address a CUDA graph captured
    assert first[:, :, prompt_len].abs().sum() > 0  # the new position was written
    assert first[:, :, prompt_len + 1:].abs().sum() == 0  # nothing beyond it


def test_static_decoding_step_is_one_graph_and_compiles():
    model, caches, args = _prefilled()
    with torch.no_grad():
        explain = torch._dynamo.explain(model.head.decoder.step)(*args)
    assert explain.graph_break_count == 0 and explain.graph_count == 1
    # The compiled step (what compile_step runs; CUDA graphs on a GPU) decodes the same.
    torch._dynamo.reset()
    model, memory, tok, prompts = _setup()
    eager = _decode(model, memory, tok, prompts, static_cache=True)
    compiled = _decode(model, memory, tok, prompts, static_cache=True, compile_step=True)
    assert torch.equal(compiled.tokens, eager.tokens)
    torch.testing.assert_close(compiled.scores, eager.scores, atol=1e-3, rtol=1e-4)
    # Another image batch of the same shape reuses the buffers (the captured graphs) and
    # still decodes its own memory, not the previous one.
    other = model.head.project_memory(model.extract_feat(torch.randn(4, 3, 32, 32)))
    eager2 = _decode(model, other, tok, prompts, static_cache=True)
    compiled2 = _decode(model, other, tok, prompts, static_cache=True, compile_step=True)
    assert torch.equal(compiled2.tokens, eager2.tokens)
    assert not torch.equal(eager2.tokens, eager.tokens)
    assert len(_BUFFERS[model.head.decoder]) == 1


def test_static_options_are_checked():
    model, memory, tok, prompts = _setup()
    with pytest.raises(ValueError, match='use_cache'):
        _decode(model, memory, tok, prompts, static_cache=True, use_cache=False)
    with pytest.raises(ValueError, match='static_cache'):
        _decode(model, memory, tok, prompts, compile_step=True)


def test_model_decodes_the_same_captions_with_each_decode_cache():
    from tests.test_models.utils import build_tiny, predict_samples, randomize_logits
    model = randomize_logits(build_tiny(), std=2.0).eval()
    images = torch.randn(3, 3, 32, 32)
    captions = {}
    for cache in ('dynamic', 'static'):
        model.test_cfg['decode_cache'] = cache
        out = model(images, predict_samples('cap', n=3), mode='predict')
        captions[cache] = [ds.pred_caption for ds in out]
    assert captions['static'] == captions['dynamic']
    assert any(captions['dynamic'])
    from locca_mm.registry import MODELS
    from tests.test_models.utils import tiny_model_cfg
    with pytest.raises(ValueError, match='decode_cache'):
        MODELS.build(dict(tiny_model_cfg(), test_cfg=dict(decode_cache='paged')))


def test_compiled_step_is_not_recompiled_for_another_prompt_length():
    """The static buffers span the decoder's every position: prompts of other lengths and
    another max_new_tokens reuse the compiled step (one graph per batch size)."""
    import torch._dynamo.utils as dynamo_utils
    torch._dynamo.reset()
    model, memory, tok, prompts = _setup()
    short = [tok.prompt('aref', text=t) for t in ['a', 'b', 'c', 'd']]
    _decode(model, memory, tok, prompts, static_cache=True, compile_step=True)
    frames = dynamo_utils.counters['stats']['unique_graphs']
    for p, new in ((short, 12), (prompts, 5)):
        eager = _decode(model, memory, tok, p, new=new, static_cache=True)
        compiled = _decode(model, memory, tok, p, new=new, static_cache=True,
                           compile_step=True)
        assert torch.equal(compiled.tokens, eager.tokens)
    assert dynamo_utils.counters['stats']['unique_graphs'] == frames
    # ... while another batch size is another graph (the counter sees recompiles)
    two = model.head.project_memory(model.extract_feat(torch.randn(2, 3, 32, 32)))
    _decode(model, two, tok, prompts[:2], static_cache=True, compile_step=True)
    assert dynamo_utils.counters['stats']['unique_graphs'] > frames
