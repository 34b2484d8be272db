"""Detection sequences: every object in one GCap sequence, built and read back."""
import numpy as np
import pytest
import torch

from locca_mm.tokenizers import LocCaTokenizer
from locca_mm.tokenizers.detection import (
    build_detection_sequence,
    pair_ids,
    parse_detection_sequence,
)

SHAPE = (60, 80)  # (h, w)
TEXTS = ['red circle', 'dog', 'blue square', 'a tall tree', 'cat']
BOXES = torch.tensor([[2., 3., 14., 15.], [16., 4., 30., 12.], [5., 18., 20., 30.],
                      [40., 10., 79., 59.], [0., 0., 80., 60.]])


def tokenizer(gcap=200, num_bins=80):
    return LocCaTokenizer(box_tokenizer=dict(type='BoxTokenizer', num_bins=num_bins),
                          max_length=dict(cap=32, aref=32, gcap=gcap))


def test_round_trip_gives_back_the_boxes_and_texts():
    tok = tokenizer()
    built = build_detection_sequence(tok, TEXTS, BOXES, SHAPE)
    seq = built.sequence
    assert built.kept == list(range(len(TEXTS))) and built.dropped == 0 and not seq.truncated
    assert seq.tokens[-1] == tok.text_tokenizer.eos_id
    assert seq.tokens[:seq.prefix_len].tolist() == tok.prompt('gcap').tolist()
    boxes, texts, spans = parse_detection_sequence(tok, seq.tokens[seq.prefix_len:], SHAPE)
    assert texts == TEXTS
    # Bin centres: within half a bin (w/80 = 1 px, h/80 = 0.75 px) of the given box.
    assert torch.allclose(boxes, BOXES, atol=0.5 + 1e-4)
    assert spans[0][0] == 0 and spans[-1][1] == len(seq.tokens) - seq.prefix_len - 1
    # The whole sequence after the prefix is trained: boxes, texts and eos.
    assert seq.loss_end is None


def test_one_object_is_the_single_gcap_sequence_token_for_token():
    tok = tokenizer()
    for text, box in zip(TEXTS, BOXES):
        built = build_detection_sequence(tok, [text], box[None], SHAPE).sequence
        single = tok.build('gcap', text=text, box=box, img_shape=SHAPE)
        assert built.tokens.tolist() == single.tokens.tolist()
        assert built.prefix_len == single.prefix_len


def test_whole_trailing_pairs_are_dropped_to_fit_and_counted():
    lengths = [len(pair_ids(tokenizer(), t, b, SHAPE)) for t, b in zip(TEXTS, BOXES)]
    prefix = len(tokenizer().prompt('gcap'))
    # Room for exactly the first two pairs and eos, and one token less than the third needs.
    limit = prefix + sum(lengths[:3]) + 1 - 1
    tok = tokenizer(gcap=limit)
    built = build_detection_sequence(tok, TEXTS, BOXES, SHAPE)
    assert built.kept == [0, 1] and built.dropped == 3 and built.sequence.truncated
    assert len(built.sequence.tokens) == prefix + sum(lengths[:2]) + 1 <= limit
    _, texts, _ = parse_detection_sequence(tok, built.sequence.tokens[prefix:], SHAPE)
    assert texts == TEXTS[:2]  # never a cut pair


def test_max_boxes_keeps_the_first_objects():
    built = build_detection_sequence(tokenizer(), TEXTS, BOXES, SHAPE, max_boxes=2)
    assert built.kept == [0, 1] and built.dropped == 3
    assert not built.sequence.truncated  # left out by max_boxes, not cut for length
    empty = build_detection_sequence(tokenizer(), [], torch.zeros(0, 4), SHAPE).sequence
    eos = tokenizer().text_tokenizer.eos_id
    assert empty.tokens.tolist() == tokenizer().prompt('gcap').tolist() + [eos]


def test_bad_objects_are_refused_with_their_index():
    with pytest.raises(ValueError, match='object 1: empty text'):
        build_detection_sequence(tokenizer(), ['dog', ' '], BOXES[:2], SHAPE)
    with pytest.raises(ValueError, match='object 0'):
        build_detection_sequence(tokenizer(), ['dog'], torch.tensor([[10., 10., 5., 20.]]), SHAPE)
    with pytest.raises(ValueError, match='2 texts but 1 boxes'):
        build_detection_sequence(tokenizer(), ['dog', 'cat'], BOXES[:1], SHAPE)


def _results(n=5):
    return dict(source='file.json#7', img_shape=SHAPE,
                regions=dict(texts=TEXTS[:n]), gt_bboxes=BOXES[:n].numpy().copy(),
                gt_bboxes_labels=np.arange(n))


def test_transform_writes_every_object_in_a_random_order():
    from locca_mm.datasets.transforms import BuildDetectionSequence
    tok = tokenizer()
    t = BuildDetectionSequence(tokenizer=tok)
    orders = set()
    np.random.seed(0)
    for _ in range(20):
        out = t(_results())
        seq = out['task_sequences']['gcap']
        _, texts, _ = parse_detection_sequence(tok, seq.tokens[seq.prefix_len:], SHAPE)
        assert sorted(texts) == sorted(TEXTS) and 'data_stats' not in out
        orders.add(tuple(texts))
    assert len(orders) > 5  # the order is drawn anew each time
    fixed = BuildDetectionSequence(tokenizer=tok, shuffle=False)(_results())
    _, texts, _ = parse_detection_sequence(tok, fixed['task_sequences']['gcap'].tokens[5:], SHAPE)
    assert texts == TEXTS


def test_transform_counts_what_it_leaves_out():
    from locca_mm.datasets.transforms import BuildDetectionSequence
    tok = tokenizer()
    results = _results()
    results['gt_bboxes'][2] = [5., 18., 5.5, 30.]  # thinner than min_size after geometry
    out = BuildDetectionSequence(tokenizer=tok, max_boxes=3)(results)
    assert out['data_stats'] == dict(dropped_regions=2)  # the thin one, and one over 3
    short = tokenizer(gcap=30)
    out = BuildDetectionSequence(tokenizer=short, shuffle=False)(_results())
    seq = out['task_sequences']['gcap']
    assert len(seq.tokens) <= 30 and seq.truncated
    kept = len(parse_detection_sequence(short, seq.tokens[seq.prefix_len:], SHAPE)[1])
    assert out['data_stats'] == dict(dropped_regions=5 - kept, truncated=1)


def test_transform_names_the_record_of_a_bad_text():
    from locca_mm.datasets.base import InvalidRecordError
    from locca_mm.datasets.transforms import BuildDetectionSequence
    results = _results()
    results['regions'] = dict(texts=['dog', '', 'cat', 'x', 'y'])
    with pytest.raises(InvalidRecordError, match='file.json#7: object .*empty text'):
        BuildDetectionSequence(tokenizer=tokenizer(), shuffle=False)(results)
