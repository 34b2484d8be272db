"""Decoding: KV cache equivalence, beams, and constrained boxes."""
import torch

from locca_mm.models.decoding import BoxConstraint, TextConstraint, generate
from tests.test_models.utils import IMG, build_tiny


def _randomised(model, seed=0):
    """Give the zero-initialised logit layer weights, so decoding is not trivial."""
    torch.manual_seed(seed)
    for p in model.head.decoder.logit_layer.parameters():
        torch.nn.init.normal_(p, std=2.0)
    return model.eval()


def _setup(n=4, seed=0):
    model = _randomised(build_tiny(), seed)
    memory = model.head.project_memory(model.extract_feat(torch.randn(n, 3, IMG, IMG)))
    tok = model.tokenizer
    prompts = [tok.prompt('aref', text=t) for t in ['red', 'the big blue one', 'x', 'a b']][:n]
    return model, memory, tok, prompts


def test_cached_greedy_equals_uncached_token_for_token():
    model, memory, tok, prompts = _setup()
    constraint = TextConstraint(tok.text_tokenizer.text_token_mask(), tok.text_tokenizer.eos_id)
    eos = tok.text_tokenizer.eos_id
    cached = generate(model.head.decoder, memory, prompts, constraint, eos, 10)
    uncached = generate(model.head.decoder, memory, prompts, constraint, eos, 10,
                        use_cache=False)
    assert torch.equal(cached.tokens, uncached.tokens)
    assert torch.allclose(cached.scores, uncached.scores, atol=1e-4)


def test_cached_beam_search_equals_uncached():
    model, memory, tok, prompts = _setup()
    constraint = TextConstraint(tok.text_tokenizer.text_token_mask(), tok.text_tokenizer.eos_id)
    kw = dict(num_beams=3)
    eos = tok.text_tokenizer.eos_id
    a = generate(model.head.decoder, memory, prompts, constraint, eos, 8, **kw)
    b = generate(model.head.decoder, memory, prompts, constraint, eos, 8,
                 use_cache=False, **kw)
    assert torch.equal(a.tokens, b.tokens)


def test_beam_search_scores_at_least_greedy():
    model, memory, tok, prompts = _setup()
    text = tok.text_tokenizer
    constraint = BoxConstraint(text.loc_offset, tok.box_tokenizer.num_bins, text.vocab_size,
                               text.eos_id)
    greedy = generate(model.head.decoder, memory, prompts, constraint, text.eos_id, 5)
    beam = generate(model.head.decoder, memory, prompts, constraint, text.eos_id, 5,
                    num_beams=4)
    assert (beam.scores >= greedy.scores - 1e-5).all()
    one = generate(model.head.decoder, memory, prompts, constraint, text.eos_id, 5,
                   num_beams=1)
    assert torch.equal(one.tokens, greedy.tokens)


def test_greedy_decoding_agrees_with_teacher_forcing():
    model, memory, tok, prompts = _setup()
    constraint = TextConstraint(tok.text_tokenizer.text_token_mask(), tok.text_tokenizer.eos_id)
    out = generate(model.head.decoder, memory, prompts, constraint, tok.text_tokenizer.eos_id, 6)
    allowed = constraint.with_eos
    for i, prompt in enumerate(prompts):
        n = int(out.lengths[i])
        row = torch.cat([prompt, out.tokens[i, :n]])
        logits = model.head.decoder(row[None], memory.index_select(torch.tensor([i])))[0]
        logp = logits.log_softmax(-1)[len(prompt):len(prompt) + n]
        assert torch.equal(logp.masked_fill(~allowed, -1e9).argmax(-1), out.tokens[i, :n])
        score = logp.gather(1, out.tokens[i, :n, None]).sum()
        assert torch.allclose(score, out.scores[i], atol=1e-4)


def test_200_constrained_aref_decodes_are_valid_boxes_in_the_image():
    boxes = []
    for seed in range(10):  # 10 random models x 20 images = 200 decodes
        model = _randomised(build_tiny(seed=seed), seed)
        samples = []
        from locca_mm.structures import LocCaDataSample
        for j in range(20):
            ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG), ori_shape=(48, 64),
                                               scale_factor=(0.5, 2 / 3)))
            ds.task = 'ref'
            ds.prompt_text = ['the red one', 'left square', 'star'][j % 3]
            samples.append(ds)
        g = torch.Generator().manual_seed(seed)
        model.predict(torch.randn(20, 3, IMG, IMG, generator=g), samples)
        boxes += [ds.pred_instances.bboxes[0] for ds in samples]
    boxes = torch.stack(boxes)
    assert boxes.shape == (200, 4)
    x1, y1, x2, y2 = boxes.unbind(-1)
    assert (x2 >= x1).all() and (y2 >= y1).all()
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 64).all() and (y2 <= 48).all()
    assert len({tuple(b.tolist()) for b in boxes}) > 20  # not one box repeated


def test_text_never_contains_location_tokens():
    model, memory, tok, prompts = _setup()
    constraint = TextConstraint(tok.text_tokenizer.text_token_mask(), tok.text_tokenizer.eos_id)
    out = generate(model.head.decoder, memory, prompts, constraint, tok.text_tokenizer.eos_id, 12)
    assert not tok.text_tokenizer.is_loc(out.tokens).any()
