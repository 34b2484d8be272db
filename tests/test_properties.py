"""Property tests (hypothesis): the box codec, the task-sequence builder, the record and shard
parsers and the box decoding constraint hold their contracts on any input, not only on examples."""
import io
import json
import math
import tarfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locca_mm.datasets.base import InvalidRecordError
from locca_mm.datasets.jsonl import loads_line, parse_record
from locca_mm.datasets.shards import index_shard
from locca_mm.models.decoding import constraint_for
from locca_mm.registry import TOKENIZERS
from locca_mm.tokenizers import BoxTokenizer
from tests.test_models.utils import TINY_TOKENIZER

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

sides = st.integers(min_value=1, max_value=4096)
orders = st.sampled_from(['yxyx', 'xyxy'])
num_bins = st.integers(min_value=1, max_value=1000)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def image_and_box(draw):
    """(h, w) and an xyxy box inside the image (zero width/height allowed)."""
    h, w = draw(sides), draw(sides)
    xs = sorted([draw(unit) * w, draw(unit) * w])
    ys = sorted([draw(unit) * h, draw(unit) * h])
    return (h, w), [xs[0], ys[0], xs[1], ys[1]]


@SETTINGS
@given(image_and_box(), num_bins, orders)
def test_box_codec_round_trip_within_half_a_bin(shape_box, k, order):
    (h, w), box = shape_box
    codec = BoxTokenizer(k, order)
    bins = codec.encode(torch.tensor([box]), (h, w))
    assert bins.dtype == torch.long and bins.shape == (1, 4)
    assert ((bins >= 0) & (bins < k)).all()
    b = bins[0].tolist()
    assert b[2] >= b[0] and b[3] >= b[1]  # never inverted, in either order
    back = codec.decode(bins, (h, w))[0].double()
    half = torch.tensor([w, h, w, h], dtype=torch.float64) / k / 2
    err = (back - torch.tensor(box, dtype=torch.float64)).abs()
    assert (err <= half * (1 + 1e-6) + 1e-4).all(), (err, half)
    # A decoded box encodes to the same bins: the codec is idempotent on bins.
    assert torch.equal(codec.encode(back[None], (h, w)), bins)


@SETTINGS
@given(sides, sides, num_bins, orders,
       st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=4,
                max_size=4))
def test_box_codec_clips_any_box_into_the_image_or_names_the_inverted_one(h, w, k, order, c):
    codec = BoxTokenizer(k, order)
    box = torch.tensor([c], dtype=torch.float64)
    clipped_x = sorted([min(max(c[0], 0), w), min(max(c[2], 0), w)])
    clipped_y = sorted([min(max(c[1], 0), h), min(max(c[3], 0), h)])
    inverted = min(max(c[2], 0), w) < min(max(c[0], 0), w) or \
        min(max(c[3], 0), h) < min(max(c[1], 0), h)
    if inverted:
        with pytest.raises(ValueError, match='box 0 has x2 < x1 or y2 < y1'):
            codec.encode(box, (h, w))
        return
    bins = codec.encode(box, (h, w))
    assert ((bins >= 0) & (bins < k)).all()
    back = codec.decode(bins, (h, w))[0]
    assert 0 <= back[0] <= back[2] <= w and 0 <= back[1] <= back[3] <= h
    assert abs(float(back[0]) - clipped_x[0]) <= w / k / 2 + 1e-3
    assert abs(float(back[3]) - clipped_y[1]) <= h / k / 2 + 1e-3


@SETTINGS
@given(sides, sides, num_bins, st.sampled_from([math.inf, -math.inf, math.nan]),
       st.integers(0, 3))
def test_box_codec_refuses_non_finite_coordinates(h, w, k, bad, i):
    box = [1.0, 1.0, 2.0, 2.0]
    box[i] = bad
    with pytest.raises(ValueError, match='non-finite'):
        BoxTokenizer(k).encode(torch.tensor([box]), (h, w))


_TOK = TOKENIZERS.build(TINY_TOKENIZER)
texts = st.text(alphabet=st.characters(codec='utf-8', exclude_categories=('Cs', )), max_size=80)


@SETTINGS
@given(st.sampled_from(['cap', 'aref', 'gcap']), texts, image_and_box())
def test_task_sequence_builder(task, text, shape_box):
    shape, box = shape_box
    tok = _TOK
    if not text.strip():
        with pytest.raises(ValueError, match='empty text'):
            tok.build(task, text, torch.tensor(box), shape)
        return
    seq = tok.build(task, text, torch.tensor(box), shape)
    ids = seq.tokens.tolist()
    assert 0 < seq.prefix_len < len(ids) <= tok.max_length[task]
    assert all(0 <= i < tok.text_tokenizer.vocab_size for i in ids)
    prompt = tok.prompt(task, text, torch.tensor(box), shape).tolist()
    assert ids[:len(prompt)] == prompt  # what inference is given is what training saw
    first_loc = tok.text_tokenizer.loc_offset
    loc = [i for i in ids if first_loc <= i < first_loc + tok.text_tokenizer.num_bins]
    if task == 'cap':
        assert loc == [] and seq.prefix_len == len(prompt)
        assert (ids[-1] == tok.text_tokenizer.eos_id) != seq.truncated
        return
    assert len(loc) == 4  # the box is never cut, whatever the text's length
    parsed = tok.parse_box(torch.tensor(loc), shape)
    h, w = shape
    half = torch.tensor([w, h, w, h]) / tok.box_tokenizer.num_bins / 2
    assert ((parsed - torch.tensor(box, dtype=torch.float32)).abs() <= half + 1e-3).all()
    if task == 'aref':  # the box and eos close the sequence, even when the text is cut
        assert ids[-5:-1] == loc and ids[-1] == tok.text_tokenizer.eos_id
    else:
        start = len(tok._prefix_ids['gcap'])  # gcap: prefix, box, separator, text
        assert ids[start:start + 4] == loc
        assert seq.prefix_len == start  # box and text are both trained (the paper)
        assert prompt == ids[:start + 4 + len(tok._sep_ids)]  # a given box is forced
        assert (ids[-1] == tok.text_tokenizer.eos_id) != seq.truncated


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(['image', 'caption', 'regions', 'bbox', 'text', 'score', 'width',
                         'height', 'x']), children, max_size=5),
    max_leaves=20)


words = st.text(alphabet='abcdefgh ', min_size=1, max_size=12).filter(str.strip)


@st.composite
def valid_records(draw):
    """Records in the documented format that must be accepted."""
    w, h = draw(st.integers(2, 1000)), draw(st.integers(2, 1000))
    regions = []
    for _ in range(draw(st.integers(0, 3))):
        x1, y1 = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
        x2, y2 = draw(st.integers(x1 + 1, w)), draw(st.integers(y1 + 1, h))
        regions.append({'bbox': [x1, y1, x2, y2], 'text': draw(words),
                        'score': draw(st.floats(0, 1))})
    rec = {'image': draw(words) + '.jpg', 'width': w, 'height': h, 'regions': regions}
    if not regions or draw(st.booleans()):
        rec['caption'] = draw(words)
    return rec


@st.composite
def records(draw):
    """A valid record, or one with a field (or a region's field) replaced by anything."""
    rec = draw(valid_records())
    corrupt = draw(st.sampled_from(['none', 'field', 'region', 'whole']))
    if corrupt == 'field':
        rec[draw(st.sampled_from(['image', 'caption', 'regions', 'width', 'height']))] = \
            draw(json_values)
    elif corrupt == 'region' and rec['regions']:
        region = rec['regions'][draw(st.integers(0, len(rec['regions']) - 1))]
        key = draw(st.sampled_from(['bbox', 'text', 'score']))
        region[key] = draw(json_values | st.lists(st.floats(-10, 1100), min_size=4,
                                                  max_size=4))
    elif corrupt == 'whole':
        rec = draw(json_values)
    return rec


@SETTINGS
@given(valid_records())
def test_parse_record_accepts_every_valid_record(rec):
    info = parse_record(rec, 'data.jsonl:1')
    assert info['captions'] == ([rec['caption'].strip()] if 'caption' in rec else [])
    boxes = torch.as_tensor(info['regions']['bboxes'], dtype=torch.float64).reshape(-1, 4)
    assert boxes.tolist() == [[float(v) for v in r['bbox']] for r in rec['regions']]


@SETTINGS
@given(records())
def test_parse_record_gives_a_valid_record_or_names_the_source(obj):
    try:
        info = parse_record(obj, 'data.jsonl:3')
    except InvalidRecordError as e:
        assert str(e).startswith('data.jsonl:3: ')
        return
    assert isinstance(info['img_path'], str) and info['img_path'].strip()
    assert info['captions'] or len(info['regions']['bboxes'])
    assert all(isinstance(c, str) and c.strip() for c in info['captions'])
    boxes = torch.as_tensor(info['regions']['bboxes'], dtype=torch.float64).reshape(-1, 4)
    assert torch.isfinite(boxes).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    w, h = obj.get('width'), obj.get('height')
    if isinstance(w, (int, float)) and isinstance(h, (int, float)):
        # Boxes may reach beyond the image (the pipeline clips them) but overlap it.
        assert (boxes[:, 2] > 0).all() and (boxes[:, 3] > 0).all()
        assert (boxes[:, 0] < w).all() and (boxes[:, 1] < h).all()
    assert len(info['regions']['texts']) == len(boxes)


@SETTINGS
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_loads_line_parses_or_names_the_line(raw):
    try:
        loads_line(raw, 'data.jsonl:9')
    except InvalidRecordError as e:
        assert str(e).startswith('data.jsonl:9: ')


member_names = st.one_of(
    st.sampled_from(['a.jpg', 'a.json', 'b.png', 'b.json', 'dir/c.jpg', 'dir/c.json',
                     '../evil.jpg', '../evil.json', '/abs/x.jpg', '/abs/x.json',
                     'dir/../../up.json', 'C:/win.json', 'noext', 'd.JPG', 'd.json']),
    st.text(alphabet='abc./\\:', min_size=1, max_size=12))


@SETTINGS
@given(st.lists(member_names, max_size=10))
def test_shard_index_never_yields_an_unsafe_or_incomplete_sample(tmp_path_factory, names):
    path = tmp_path_factory.mktemp('shard') / 'shard.tar'
    with tarfile.open(path, 'w') as tar:
        for n in names:
            data = n.encode()
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    try:
        samples, problems = index_shard(str(path))
    except InvalidRecordError as e:  # names tar cannot store round-trip
        assert 'shard.tar' in str(e)
        return
    raw = path.read_bytes()
    for key, img_off, img_size, js_off, js_size in samples:
        assert '..' not in key.split('/') and not key.startswith('/')
        assert 0 < img_off and img_off + img_size <= len(raw)
        assert raw[js_off:js_off + js_size].decode().startswith(key)
    for name in names:
        if name.startswith('/') or '..' in name.replace('\\', '/').split('/'):
            assert any(repr(name) in p for p in problems) or not name.strip('/')


@SETTINGS
@given(st.integers(0, 2**31 - 1), sides, sides)
def test_box_constraint_always_decodes_a_valid_box(seed, h, w):
    """Whatever the logits, the constrained decode is 4 location tokens, then eos, a valid box."""
    tok = _TOK
    constraint = constraint_for('ref', tok)
    gen = torch.Generator().manual_seed(seed)
    batch = 5
    generated = torch.zeros(batch, 0, dtype=torch.long)
    for step in range(5):
        logits = torch.randn(batch, tok.text_tokenizer.vocab_size, generator=gen) * 10
        allowed = constraint.allowed(generated, step)
        assert allowed.any(dim=1).all()
        nxt = logits.masked_fill(~allowed, -math.inf).argmax(dim=1)
        generated = torch.cat([generated, nxt[:, None]], dim=1)
    assert (generated[:, 4] == tok.text_tokenizer.eos_id).all()
    boxes = tok.parse_box(generated[:, :4], (h, w))
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()

