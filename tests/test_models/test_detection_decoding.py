"""Detection by the decoder: the boxes + texts constraint, and detect_seq predictions."""
import pytest
import torch

from locca_mm.models.decoding import DetectionConstraint, NameTrie, constraint_for, generate
from locca_mm.registry import MODELS
from locca_mm.structures import LocCaDataSample
from locca_mm.tokenizers import LocCaTokenizer
from locca_mm.tokenizers.detection import parse_detection_sequence
from tests.test_models.utils import IMG, TINY_TOKENIZER, randomize_logits, tiny_model_cfg

CLASSES = ('car', 'carrot', 'dog', 'a')
K = 16  # TINY_TOKENIZER's bins


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Hundreds of decoding steps of a tiny model: one thread is the fastest (no handoffs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def tok():
    return LocCaTokenizer(**{k: v for k, v in TINY_TOKENIZER.items() if k != 'type'})


def ids_of(tok, *parts):
    """Token ids of parts: ints are location bins, strings text."""
    out = []
    for p in parts:
        text = tok.text_tokenizer
        out += [text.loc_offset + p] if isinstance(p, int) else text.encode(p)
    return out


def allowed_set(constraint, tok, prefix):
    """The allowed next ids after ``prefix`` (a list of ids), as a set."""
    generated = torch.tensor([prefix], dtype=torch.long).reshape(1, len(prefix))
    return set(constraint.allowed(generated, len(prefix))[0].nonzero()[:, 0].tolist())


def locs(tok, low, high):
    return {tok.text_tokenizer.loc_offset + k for k in range(low, high)}


def test_the_state_machine_on_hand_made_prefixes(tok):
    c = constraint_for('detect_seq', tok, classes=CLASSES, max_boxes=2)
    text = tok.text_tokenizer
    eos, sep = text.eos_id, text.encode(':')[0]
    # Start: eos or the first location of a box, never the last bin (x2 > x1 needs room).
    assert allowed_set(c, tok, []) == {eos} | locs(tok, 0, K - 1)
    assert allowed_set(c, tok, ids_of(tok, 5)) == locs(tok, 0, K - 1)
    assert allowed_set(c, tok, ids_of(tok, 5, 7)) == locs(tok, 6, K)  # third > first
    assert allowed_set(c, tok, ids_of(tok, 5, 7, 9)) == locs(tok, 8, K)  # fourth > second
    assert allowed_set(c, tok, ids_of(tok, 5, 7, 9, 8)) == {sep}  # the separator, forced
    assert allowed_set(c, tok, ids_of(tok, 5, 7, 9, 8, ':')) == set(text.encode(' '))
    assert allowed_set(c, tok, ids_of(tok, 5, 7, 9, 8, ': ca')) == set(text.encode('r'))
    # ' car' is a name and the start of ' carrot': go on, end, or start the next box.
    after_car = allowed_set(c, tok, ids_of(tok, 5, 7, 9, 8, ': car'))
    assert after_car == set(text.encode('r')) | {eos} | locs(tok, 0, K - 1)
    assert allowed_set(c, tok, ids_of(tok, 5, 7, 9, 8, ': dog')) == {eos} | locs(tok, 0, K - 1)
    # After max_boxes=2 pairs only eos.
    two = ids_of(tok, 5, 7, 9, 8, ': dog', 0, 0, 1, 1, ': a')
    assert allowed_set(c, tok, two) == {eos}


def test_the_budget_keeps_eos_reachable(tok):
    eos = tok.text_tokenizer.eos_id
    prefix = ids_of(tok, 5, 7, 9, 8, ': car')
    # ' a' is the shortest name: a pair needs 4 + 1 + 2 tokens, then eos: 8.
    for budget, new_pair, carrot in ((len(prefix) + 8, True, True),
                                     (len(prefix) + 7, False, True),
                                     (len(prefix) + 3, False, False)):
        c = constraint_for('detect_seq', tok, classes=CLASSES, max_new_tokens=budget)
        got = allowed_set(c, tok, prefix)
        assert (locs(tok, 0, K - 1) <= got) == new_pair
        assert (set(tok.text_tokenizer.encode('r')) <= got) == carrot  # 'r', 'o', 't' then eos
        assert eos in got
    # Free text: a box, ':', one text token and eos take 7.
    assert allowed_set(constraint_for('detect_seq', tok, max_new_tokens=6), tok, []) == {eos}
    assert locs(tok, 0, K - 1) <= allowed_set(constraint_for('detect_seq', tok, max_new_tokens=7),
                                               tok, [])


def test_free_text_needs_one_token_then_may_end(tok):
    c = constraint_for('detect_seq', tok, max_new_tokens=40)
    text = set(tok.text_tokenizer.text_token_mask().nonzero()[:, 0].tolist())
    eos = tok.text_tokenizer.eos_id
    assert allowed_set(c, tok, ids_of(tok, 1, 2, 3, 4, ':')) == text
    assert allowed_set(c, tok, ids_of(tok, 1, 2, 3, 4, ': x')) == text | {eos} | locs(tok, 0, K - 1)
    # One token before the budget ends: only eos.
    prefix = ids_of(tok, 1, 2, 3, 4, ': xy')
    c = constraint_for('detect_seq', tok, max_new_tokens=len(prefix) + 1)
    assert allowed_set(c, tok, prefix) == {eos}


def test_rows_in_different_states_are_answered_row_by_row():
    model = no_eos(big_tiny_model(5, length=64))
    tok = model.tokenizer
    memory = model.head.project_memory(model.extract_feat(torch.rand(4, 3, IMG, IMG)))
    c = constraint_for('detect_seq', tok, classes=CLASSES, max_new_tokens=50)
    out = generate(model.head.decoder, memory, [tok.prompt('gcap')] * 4, c,
                   tok.text_tokenizer.eos_id, 50)
    states = set()
    for step in range(1, out.tokens.shape[1]):
        live = [i for i in range(4) if out.lengths[i] > step]
        if len(live) < 2:
            break
        batch = out.tokens[live, :step]
        mask = c.allowed(batch, step)
        for row, i in enumerate(live):
            want = allowed_set(c, tok, out.tokens[i, :step].tolist())
            assert set(mask[row].nonzero()[:, 0].tolist()) == want
        states.add(tuple(int(r.sum()) for r in mask))
    assert any(len(set(s)) > 1 for s in states)  # rows were in different states at once


def test_name_trie_distances():
    trie = NameTrie([[1, 2], [1, 2, 3, 4], [5]])
    assert trie.min_len == 1
    root = trie.node_of[()]
    assert dict(zip(trie.children[root].tolist(), trie.child_dist[root].tolist())) == {1: 1, 5: 0}
    assert trie.terminal[trie.node_of[(1, 2)]] and not trie.terminal[trie.node_of[(1, 2, 3)]]
    with pytest.raises(ValueError, match='at least one token'):
        NameTrie([[1], []])
    with pytest.raises(ValueError, match='no names'):
        NameTrie([])
    with pytest.raises(ValueError, match='non-empty'):
        DetectionConstraint.for_tokenizer(LocCaTokenizer(), classes=['dog', ' '])


def big_tiny_model(seed, length=208):
    """A tiny random LocCa whose decoder holds ``length`` positions, logits drawn at random."""
    cfg = tiny_model_cfg()
    cfg['tokenizer']['max_length'] = dict(cap=32, aref=24, gcap=length)
    cfg['head']['decoder']['max_len'] = length
    torch.manual_seed(seed)
    return randomize_logits(MODELS.build(cfg), std=3.0, seed=seed).eval()


def no_eos(model):
    """The decoder never chooses eos unless the constraint leaves nothing else."""
    step, eos = model.head.decoder.step, model.tokenizer.text_tokenizer.eos_id

    def wrapped(*args, **kwargs):
        logits = step(*args, **kwargs)
        logits[..., eos] -= 1e4
        return logits

    model.head.decoder.step = wrapped
    return model


def samples(n, ori=(48, 80)):
    out = []
    for _ in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG), ori_shape=ori,
                                           scale_factor=(IMG / ori[1], IMG / ori[0])))
        ds.task = 'detect_seq'
        out.append(ds)
    return out


#: (eos suppressed, token budget, max_boxes, classes): small and large budgets, with and
#: without classes, a model that stops by itself and one that never does.
CASES = [(False, 12, 25, None), (False, 12, 25, CLASSES), (False, 200, 25, None),
         (False, 200, 25, CLASSES), (True, 40, 25, CLASSES), (True, 200, 3, CLASSES),
         (True, 200, 25, CLASSES), (True, 200, 25, None)]


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_detect_seq_decodes_at_most_max_boxes_valid_boxes(seed):
    model = big_tiny_model(seed)
    images = torch.rand(3, 3, IMG, IMG, generator=torch.Generator().manual_seed(seed))
    h, w = 48, 80
    for suppress, budget, max_boxes, classes in CASES:
        if suppress and not getattr(model, 'no_eos', False):
            model = no_eos(model)
            model.no_eos = True
        model.test_cfg.update(task='detect_seq', max_new_tokens=budget, max_boxes=max_boxes,
                              classes=classes)
        for ds in model.predict(images, samples(3, (h, w))):
            pred = ds.pred_instances
            n = len(pred.bboxes)
            assert ds.task == 'detect_seq' and n <= max_boxes
            assert len(pred.scores) == len(pred.texts) == n
            b = pred.bboxes
            assert bool(((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all())
            assert bool(((b >= 0) & (b <= torch.tensor([w, h, w, h]))).all())
            assert bool(((pred.scores > 0) & (pred.scores <= 1)).all())
            if classes is not None:
                assert set(pred.texts) <= set(classes)
                assert [classes[k] for k in pred.labels] == list(pred.texts)
            else:
                assert all(t for t in pred.texts)
            if suppress and classes and budget == 200:
                # Names end and eos never comes: max_boxes, or the budget, stops it.
                assert n == max_boxes if max_boxes == 3 else n >= 200 // (4 + 1 + 7 + 1) - 1


@pytest.mark.parametrize('num_beams', [1, 3])
def test_every_decode_ends_with_eos_and_parses_into_complete_pairs(tok, num_beams):
    model = no_eos(big_tiny_model(4))
    tok = model.tokenizer
    memory = model.head.project_memory(model.extract_feat(torch.rand(2, 3, IMG, IMG)))
    prompt = tok.prompt('gcap')
    for budget in (5, 23, 60):
        for classes in (None, CLASSES):
            c = constraint_for('detect_seq', tok, classes=classes, max_new_tokens=budget)
            out = generate(model.head.decoder, memory, [prompt] * 2, c,
                           tok.text_tokenizer.eos_id, budget, num_beams=num_beams,
                           return_all_beams=True)
            assert torch.allclose(out.token_logp.sum(-1), out.scores, atol=1e-3)
            for row, length in zip(out.tokens.flatten(0, 1), out.lengths.flatten().tolist()):
                assert row[length - 1] == tok.text_tokenizer.eos_id and length <= budget
                _, texts, spans = parse_detection_sequence(tok, row, (IMG, IMG))
                assert (spans[-1][1] if spans else 0) == length - 1  # nothing left over
                if classes is not None:
                    assert set(texts) <= set(CLASSES)


def test_detect_seq_without_classes_runs_with_the_models_defaults():
    from tests.test_models.utils import build_tiny
    model = randomize_logits(build_tiny(), std=3.0).eval()
    model.test_cfg.update(task='detect_seq')
    for ds in model.predict(torch.rand(2, 3, IMG, IMG), samples(2)):
        assert ds.task == 'detect_seq' and 'labels' not in ds.pred_instances
        assert len(ds.pred_instances.bboxes) <= 25


def test_a_shorter_pretrained_position_table_fills_the_first_rows():
    short = big_tiny_model(0, length=32)
    long = big_tiny_model(1, length=64)
    before = long.head.decoder.pos_embed.detach().clone()
    long.load_state_dict(short.state_dict())
    table = long.head.decoder.pos_embed.detach()
    assert torch.equal(table[:, :33], short.head.decoder.pos_embed.detach())
    assert torch.equal(table[:, 33:], before[:, 33:])
    assert torch.equal(long.backbone.patch_embed.proj.weight,
                       short.backbone.patch_embed.proj.weight)


def test_long_detection_sequences_train_as_gcap_rows():
    """Whole-image sequences (much longer than one pair) through LocCaHead's gcap loss."""
    from locca_mm.tokenizers.detection import build_detection_sequence
    model = big_tiny_model(0).train()
    tok = model.tokenizer
    samples_ = []
    for n in (25, 3):  # rows of very different lengths in one batch
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG)))
        boxes = torch.tensor([[1., 2., 20., 30.]]).repeat(n, 1) + torch.arange(n)[:, None] % 5
        seq = build_detection_sequence(tok, ['car', 'dog'] * n, boxes.repeat(2, 1), (IMG, IMG))
        seq = seq.sequence
        assert len(seq.tokens) > 24 * (n > 3)  # longer than any single-pair gcap row
        ds.task_sequences = dict(gcap=seq)
        samples_.append(ds)
    data = model.data_preprocessor(dict(inputs=[torch.zeros(3, IMG, IMG, dtype=torch.uint8)] * 2,
                                        data_samples=samples_), True)
    batch = data['task_batches']['gcap']
    assert int(batch.loss_mask(tok.text_tokenizer.pad_id).sum()) == sum(
        len(s.task_sequences['gcap'].tokens) - s.task_sequences['gcap'].prefix_len
        for s in samples_)  # every token after the prefix is trained, padding is not
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_gcap']) and losses['loss_gcap'] > 0
    losses['loss_gcap'].backward()
    assert model.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
