"""Generation controls (models/decoding/sampling.py, generate.py): the logits processors by
hand and against transformers', sampling reproducible with a seed, greedy as its limit, and
the decoding constraints holding under sampling."""
import math

import pytest
import torch

from locca_mm.models.decoding import (
    BoxConstraint,
    GenerationControls,
    TextConstraint,
    constraint_for,
    generate,
)
from locca_mm.models.decoding.sampling import no_repeat_ngram_mask, repetition_penalty, warp
from locca_mm.structures import LocCaDataSample
from tests.test_models.test_decoding import _setup
from tests.test_models.utils import IMG

# -- the processors, by hand --------------------------------------------------------------------


def test_repetition_penalty_by_hand():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -4.0]])
    history = torch.tensor([[0, 1, 1, -1, 4]])  # -1: no token (left padding)
    out = repetition_penalty(logits, history, 2.0)
    # seen 0 (2 / 2 = 1), 1 (-1 * 2 = -2), 4 (-4 * 2 = -8); 2 and 3 unseen
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0, -8.0]]
    only = torch.tensor([True, False, True, True, True])  # id 1 exempt (a location token)
    assert repetition_penalty(logits, history, 2.0, only).tolist() == \
        [[1.0, -1.0, 0.5, 3.0, -8.0]]
    assert repetition_penalty(logits, history, 0.5).tolist() == [[4.0, -0.5, 0.5, 3.0, -2.0]]


def test_no_repeat_ngram_by_hand():
    v = 9
    banned = no_repeat_ngram_mask([[5, 6, 7, 5, 6], [1, 1, 1], [2, 3]], 3, v)
    assert banned[0].nonzero().flatten().tolist() == [7]   # "5 6" was followed by 7
    assert banned[1].nonzero().flatten().tolist() == [1]   # "1 1" was followed by 1
    assert banned[2].nonzero().flatten().tolist() == []    # no trigram yet
    two = no_repeat_ngram_mask([[5, 6, 7, 6, 8, 6]], 2, v)
    assert two[0].nonzero().flatten().tolist() == [7, 8]   # "6" was followed by 7 and by 8
    one = no_repeat_ngram_mask([[4, 2, 4]], 1, v)
    assert one[0].nonzero().flatten().tolist() == [2, 4]   # every token seen


def test_warpers_by_hand():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = lambda x: torch.isfinite(x[0]).nonzero().flatten().tolist()  # noqa: E731
    assert kept(warp(logits, top_k=2)) == [0, 1]
    # ascending cumulative: 0.05, 0.20, 0.50, 1.0; top_p=0.75 drops those <= 0.25
    assert kept(warp(logits, top_p=0.75)) == [0, 1]
    assert kept(warp(logits, top_p=0.85)) == [0, 1, 2]
    assert kept(warp(logits, top_p=0.01)) == [0]  # the most likely always stays
    torch.testing.assert_close(warp(logits, temperature=0.5), logits / 0.5)
    probs = warp(logits, temperature=2.0).softmax(-1)
    expected = torch.tensor([0.5, 0.3, 0.15, 0.05]).sqrt()
    torch.testing.assert_close(probs[0], expected / expected.sum())


def test_processors_equal_transformers():
    tf = pytest.importorskip('transformers.generation.logits_process')
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 50, generator=g) * 3
    ids = torch.randint(0, 50, (3, 12), generator=g)
    ids[1, 3:7] = ids[1, 8:12] = torch.tensor([4, 5, 6, 7])  # repeated n-grams
    torch.testing.assert_close(
        repetition_penalty(logits, ids, 1.7),
        tf.RepetitionPenaltyLogitsProcessor(1.7)(ids, logits.clone()))
    for n in (1, 2, 3, 4):
        theirs = tf.NoRepeatNGramLogitsProcessor(n)(ids, logits.clone())
        ours = logits.masked_fill(no_repeat_ngram_mask(ids.tolist(), n, 50), float('-inf'))
        torch.testing.assert_close(ours, theirs)
    for t, k, p in [(0.7, 0, 1.0), (1.0, 5, 1.0), (1.0, 0, 0.9), (1.3, 10, 0.8)]:
        theirs = logits.clone()
        for w in (tf.TemperatureLogitsWarper(t), tf.TopKLogitsWarper(k) if k else None,
                  tf.TopPLogitsWarper(p) if p < 1 else None):
            theirs = theirs if w is None else w(ids, theirs)
        torch.testing.assert_close(warp(logits, t, k, p), theirs)


@pytest.mark.parametrize('kwargs, match', [
    (dict(temperature=-1.0), 'temperature must be >= 0'),
    (dict(top_k=-2), 'top_k must be an int >= 0'),
    (dict(top_p=0.0), r'top_p must be in \(0, 1\]'),
    (dict(repetition_penalty=0.0), 'repetition_penalty must be > 0'),
    (dict(no_repeat_ngram_size=1.5), 'no_repeat_ngram_size must be an int'),
])
def test_bad_controls_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GenerationControls(**kwargs)


# -- generate -----------------------------------------------------------------------------------

def _text(tok):
    return TextConstraint(tok.text_tokenizer.text_token_mask(), tok.text_tokenizer.eos_id)


def _gen(model, memory, prompts, constraint, eos, n=12, **controls):
    return generate(model.head.decoder, memory, prompts, constraint, eos, n,
                    controls=GenerationControls(**controls) if controls else None)


def test_sampling_is_reproducible_with_a_seed():
    model, memory, tok, prompts = _setup()
    eos, c = tok.text_tokenizer.eos_id, _text(tok)
    a = _gen(model, memory, prompts, c, eos, do_sample=True, temperature=1.5, seed=7)
    b = _gen(model, memory, prompts, c, eos, do_sample=True, temperature=1.5, seed=7)
    other = _gen(model, memory, prompts, c, eos, do_sample=True, temperature=1.5, seed=8)
    greedy = _gen(model, memory, prompts, c, eos)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.scores, b.scores)
    assert not torch.equal(a.tokens, other.tokens)
    assert not torch.equal(a.tokens, greedy.tokens)
    gen = torch.Generator().manual_seed(7)  # a generator given is drawn from as a seed's
    given = _gen(model, memory, prompts, c, eos, do_sample=True, temperature=1.5, generator=gen)
    assert torch.equal(given.tokens, a.tokens)


def test_greedy_is_the_limit_of_sampling():
    model, memory, tok, prompts = _setup()
    eos, c = tok.text_tokenizer.eos_id, _text(tok)
    greedy = _gen(model, memory, prompts, c, eos)
    for controls in (dict(temperature=0.0), dict(top_k=1), dict(temperature=1e-4),
                     dict(top_p=1e-6)):
        out = _gen(model, memory, prompts, c, eos, do_sample=True, seed=3, **controls)
        assert torch.equal(out.tokens, greedy.tokens), controls
        torch.testing.assert_close(out.scores, greedy.scores)


def test_box_constraint_holds_under_sampling():
    """Hot, wide sampling (every token likely) still writes 4 ordered location tokens, then
    eos, at the box positions; and text without location tokens after a GCap box."""
    model, memory, tok, _ = _setup()
    text = tok.text_tokenizer
    rows = 64
    memory = memory.index_select(torch.arange(rows) % 4)
    box = BoxConstraint(text.loc_offset, tok.num_bins, text.vocab_size, text.eos_id)
    prompts = [tok.prompt('aref', text='red')] * rows
    out = _gen(model, memory, prompts, box, text.eos_id, 5, do_sample=True, temperature=50.0,
               repetition_penalty=3.0, no_repeat_ngram_size=1, seed=0)
    loc = out.tokens[:, :4]
    assert text.is_loc(loc).all() and (out.tokens[:, 4] == text.eos_id).all()
    assert (loc[:, 2] >= loc[:, 0]).all() and (loc[:, 3] >= loc[:, 1]).all()
    assert len({tuple(r) for r in loc.tolist()}) > rows // 2  # it did sample
    gcap = constraint_for('detect', tok)  # GCap with no box: box, separator, text
    out = _gen(model, memory, [tok.prompt('gcap')] * rows, gcap, text.eos_id, 12,
               do_sample=True, temperature=50.0, seed=1)
    assert text.is_loc(out.tokens[:, :4]).all()
    rest = out.tokens[:, 4:]
    assert not text.is_loc(rest).any()


def test_repetition_controls_in_generate():
    """With a strong penalty the greedy text repeats less; with no_repeat_ngram_size=1 no
    answer token repeats one of the answer or of the prompt (checked on each row)."""
    model, memory, tok, prompts = _setup()
    eos, c, text = tok.text_tokenizer.eos_id, _text(tok), tok.text_tokenizer
    n = 12
    plain = _gen(model, memory, prompts, c, eos, n)
    banned = _gen(model, memory, prompts, c, eos, n, no_repeat_ngram_size=1)
    mask = text.text_token_mask()
    for prompt, row, length in zip(prompts, banned.tokens, banned.lengths):
        answer = [i for i in row[:length].tolist() if mask[i]]
        assert len(answer) == len(set(answer)) and not set(answer) & set(prompt.tolist())
    repeats = lambda g: sum(  # noqa: E731
        len(r[:n]) - len(set(r[:n].tolist())) for r, n in zip(g.tokens, g.lengths))
    assert repeats(plain) > 0
    penalised = _gen(model, memory, prompts, c, eos, n, repetition_penalty=100.0)
    assert repeats(penalised) < repeats(plain)


def test_sampling_refuses_beams():
    model, memory, tok, prompts = _setup()
    with pytest.raises(ValueError, match='num_beams must be 1'):
        generate(model.head.decoder, memory, prompts, _text(tok), tok.text_tokenizer.eos_id, 4,
                 num_beams=2, controls=GenerationControls(do_sample=True))


# -- through the model -------------------------------------------------------------------------

def _samples(n, task, **fields):
    out = []
    for _ in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG), ori_shape=(IMG, IMG),
                                           scale_factor=(1.0, 1.0)))
        ds.task = task
        for k, v in fields.items():
            ds.set_field(v, k)
        out.append(ds)
    return out


def test_model_test_cfg_samples_cap_and_ref():
    model, _, tok, _ = _setup()
    images = torch.randn(4, 3, IMG, IMG)
    model.test_cfg.update(do_sample=True, temperature=5.0, seed=11)
    a = [s.pred_caption for s in model.predict(images, _samples(4, 'cap'))]
    b = [s.pred_caption for s in model.predict(images, _samples(4, 'cap'))]
    assert a == b
    model.test_cfg.update(seed=12)
    assert [s.pred_caption for s in model.predict(images, _samples(4, 'cap'))] != a
    refs = model.predict(images, _samples(4, 'ref', prompt_text='the red one'))
    for s in refs:
        x1, y1, x2, y2 = s.pred_instances.bboxes[0].tolist()
        assert 0 <= x1 <= x2 <= IMG and 0 <= y1 <= y2 <= IMG
    with pytest.raises(ValueError, match='not to "detect"'):
        model.predict(images, _samples(4, 'detect'))
    model.test_cfg.update(do_sample=False, seed=None)
    greedy = [s.pred_caption for s in model.predict(images, _samples(4, 'cap'))]
    model.test_cfg.update(do_sample=True, top_k=1)
    assert [s.pred_caption for s in model.predict(images, _samples(4, 'cap'))] == greedy
    assert math.isfinite(float(refs[0].pred_instances.scores[0]))
