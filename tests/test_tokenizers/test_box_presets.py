"""BoxTokenizer presets against the reference formulas, and the PaliGemma / Florence-2
strings read and written (tokenizers/box.py, tokenizers/box_strings.py).

References, transcribed below as plain functions:
- PaliGemma: big_vision ``big_vision/pp/proj/paligemma/segmentation.py``
  (``tf.clip_by_value(tf.round(bbox * 1023), 0, 1023)`` of a [0, 1] y1 x1 y2 x2 box;
  ``tf.round`` rounds half to even) and ``evaluators/proj/paligemma/transfers/
  segmentation.py`` (``tokens / 1023``).
- Florence-2: transformers ``models/florence2/processing_florence2.py``
  (``Florence2PostProcessor.quantize`` / ``dequantize``).
"""
import numpy as np
import pytest
import torch

from locca_mm.registry import TOKENIZERS
from locca_mm.tokenizers import BoxTokenizer, LocCaTokenizer
from locca_mm.tokenizers.box_strings import (
    BoxStringError,
    format_florence2,
    format_paligemma,
    parse_florence2,
    parse_florence2_od,
    parse_paligemma,
)

SIZES = [(1, 1), (7, 3), (375, 500), (480, 640), (1000, 1000), (1023, 2047), (333, 1)]


def paligemma_reference(boxes_xyxy, h, w):
    """big_vision: normalise to [0, 1] as y1 x1 y2 x2, round(v * 1023) half to even, clip."""
    b = np.asarray(boxes_xyxy, dtype=np.float64)
    norm = np.stack([b[:, 1] / h, b[:, 0] / w, b[:, 3] / h, b[:, 2] / w], axis=1)
    return np.clip(np.round(norm * 1023), 0, 1023).astype(np.int64)


def paligemma_reference_decode(bins, h, w):
    y1, x1, y2, x2 = (np.asarray(bins, dtype=np.float64) / 1023).T
    return np.stack([x1 * w, y1 * h, x2 * w, y2 * h], axis=1)


def florence2_reference(boxes_xyxy, h, w):
    """transformers' Florence2PostProcessor.quantize, bins (1000, 1000), size (w, h)."""
    per_bin_w, per_bin_h = w / 1000, h / 1000
    xmin, ymin, xmax, ymax = torch.as_tensor(boxes_xyxy, dtype=torch.float64).split(1, dim=-1)
    q = [(xmin / per_bin_w).floor().clamp(0, 999), (ymin / per_bin_h).floor().clamp(0, 999),
         (xmax / per_bin_w).floor().clamp(0, 999), (ymax / per_bin_h).floor().clamp(0, 999)]
    return torch.cat(q, dim=-1).int()


def florence2_reference_decode(bins, h, w):
    """Its dequantize before the final ``.int()`` (the bin centre)."""
    per_bin_w, per_bin_h = w / 1000, h / 1000
    xmin, ymin, xmax, ymax = torch.as_tensor(bins, dtype=torch.float64).split(1, dim=-1)
    return torch.cat([(xmin + 0.5) * per_bin_w, (ymin + 0.5) * per_bin_h,
                      (xmax + 0.5) * per_bin_w, (ymax + 0.5) * per_bin_h], dim=-1)


def boxes_with_edges(h, w, n=300, seed=0):
    """Random float and integer boxes, the whole image, one-pixel boxes at 0 and at the far
    edges, and every bin edge of the Florence-2 grid that falls on an integer pixel."""
    g = np.random.default_rng(seed)
    xs, ys = np.sort(g.uniform(0, w, (n, 2)), 1), np.sort(g.uniform(0, h, (n, 2)), 1)
    rand = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1)
    ints = np.round(rand)
    edges = [[0, 0, w, h], [0, 0, 0, 0], [w, h, w, h], [0, 0, min(1, w), min(1, h)],
             [max(w - 1, 0), max(h - 1, 0), w, h]]
    px = np.arange(w + 1, dtype=np.float64)
    py = np.linspace(0, h, w + 1)
    grid = np.stack([px, py, px, py], 1)
    return np.concatenate([rand, ints, np.asarray(edges, np.float64), grid])


@pytest.mark.parametrize('h, w', SIZES)
def test_paligemma_preset_equals_big_vision(h, w):
    tok = BoxTokenizer(preset='paligemma')
    boxes = boxes_with_edges(h, w)
    bins = tok.encode(torch.as_tensor(boxes), (h, w))
    np.testing.assert_array_equal(bins.numpy(), paligemma_reference(boxes, h, w))
    np.testing.assert_allclose(tok.decode(bins, (h, w)).numpy(),
                               paligemma_reference_decode(bins.numpy(), h, w), rtol=1e-6)
    # the image's corners are the first and last bins, and decode to the corners exactly
    assert tok.encode(torch.tensor([[0., 0., w, h]]), (h, w)).tolist() == [[0, 0, 1023, 1023]]
    assert tok.decode(torch.tensor([0, 0, 1023, 1023]), (h, w)).tolist() == [0, 0, w, h]


@pytest.mark.parametrize('h, w', SIZES)
def test_florence2_preset_equals_transformers(h, w):
    tok = BoxTokenizer(preset='florence2')
    boxes = boxes_with_edges(h, w, seed=1)
    bins = tok.encode(torch.as_tensor(boxes), (h, w))
    torch.testing.assert_close(bins.int(), florence2_reference(boxes, h, w), rtol=0, atol=0)
    centre = florence2_reference_decode(bins, h, w)
    torch.testing.assert_close(tok.decode(bins, (h, w)).double(), centre, rtol=1e-6, atol=1e-4)
    # transformers' dequantize truncates the centre to an int: ours, truncated, is theirs
    assert torch.equal(tok.decode(bins, (h, w)).int(), centre.int())


def test_florence2_and_floor_differ_only_on_float_bin_edges():
    """floor(c / (s / K)) and floor(c * K / s) are the same bins up to float rounding: on a
    35-pixel side 7 / (35 / 1000) = 199.99999999999997, so pixel 7 is in bin 199 for
    Florence-2 and 200 for 'floor' (exact: 7 * 1000 / 35 = 200)."""
    florence, floor = BoxTokenizer(preset='florence2'), BoxTokenizer(1000, order='xyxy')
    x = torch.arange(36, dtype=torch.float64)
    boxes = torch.stack([x, x, x, x], 1)
    a, b = florence.encode(boxes, (35, 35)), floor.encode(boxes, (35, 35))
    assert torch.equal(a, florence2_reference(boxes, 35, 35).long())
    assert (a[:, 0] != b[:, 0]).nonzero()[:, 0].tolist() == [7, 14, 21, 28]
    assert (a[7, 0], b[7, 0]) == (199, 200)
    assert (a - b).abs().max() <= 1


def test_presets_settings_and_spelling():
    pg, fl = BoxTokenizer(preset='paligemma'), BoxTokenizer(preset='florence2')
    assert (pg.num_bins, pg.order, pg.mode) == (1024, 'yxyx', 'round')
    assert (fl.num_bins, fl.order, fl.mode) == (1000, 'xyxy', 'floor_bin_size')
    assert pg.to_string([1, 20, 300, 1023]) == '<loc0001><loc0020><loc0300><loc1023>'
    assert fl.to_string([1, 20, 300, 999]) == '<loc_1><loc_20><loc_300><loc_999>'
    assert pg.from_string('<loc0001><loc1023>') == [1, 1023]
    with pytest.raises(ValueError, match='not a location token'):
        pg.from_string('<loc0001><loc_2>')
    with pytest.raises(ValueError, match=r'outside \[0, 1000\)'):
        fl.from_string('<loc_1000>')
    assert TOKENIZERS.build(dict(type='BoxTokenizer', preset='florence2')).num_bins == 1000
    with pytest.raises(ValueError, match="preset 'paligemma' sets"):
        BoxTokenizer(1000, preset='paligemma')
    with pytest.raises(ValueError, match='preset must be one of'):
        BoxTokenizer(preset='pix2seq')
    assert BoxTokenizer(1024, preset='paligemma').num_bins == 1024  # agreeing is fine


def test_preset_in_a_locca_tokenizer_changes_its_signature():
    plain = LocCaTokenizer(box_tokenizer=dict(type='BoxTokenizer', num_bins=1024))
    pg = LocCaTokenizer(box_tokenizer=dict(type='BoxTokenizer', preset='paligemma'))
    assert plain.signature != pg.signature
    seq = pg.build('aref', text='cat', box=torch.tensor([0., 0., 64., 32.]), img_shape=(64, 64))
    loc = seq.tokens[pg.text_tokenizer.is_loc(seq.tokens)] - pg.text_tokenizer.loc_offset
    assert loc.tolist() == [0, 0, 512, 1023]  # y1 x1 y2 x2: round(511.5) = 512, half to even


# -- strings ----------------------------------------------------------------------------------

def test_paligemma_strings_round_trip():
    texts, bins = ['cat', 'dog', 'cat'], [[1, 2, 30, 40], [0, 0, 1023, 1023], [5, 5, 5, 5]]
    prefix, suffix = format_paligemma(texts, bins)
    assert prefix == 'detect cat ; dog'
    assert suffix == ('<loc0001><loc0002><loc0030><loc0040> cat ; '
                      '<loc0000><loc0000><loc1023><loc1023> dog ; '
                      '<loc0005><loc0005><loc0005><loc0005> cat')
    back = parse_paligemma(prefix, suffix)
    assert (back.captions, back.texts, back.bins) == ([], texts, bins)
    assert parse_paligemma(*format_paligemma(caption='a red ball')).captions == ['a red ball']
    region = parse_paligemma('caption en <loc0010><loc0020><loc0500><loc0600>', 'the ball')
    assert (region.texts, region.bins) == (['the ball'], [[10, 20, 500, 600]])
    assert parse_paligemma('detect cat', '').texts == []  # nothing found


def test_florence2_strings_round_trip():
    texts, bins = ['car', 'car', 'door handle'], [[52, 333, 932, 774], [1, 2, 3, 4],
                                                   [0, 0, 999, 999]]
    prefix, suffix = format_florence2(texts, bins)
    assert prefix == '<OD>'
    assert suffix == ('car<loc_52><loc_333><loc_932><loc_774>car<loc_1><loc_2><loc_3><loc_4>'
                      'door handle<loc_0><loc_0><loc_999><loc_999>')
    back = parse_florence2(prefix, suffix)
    assert (back.texts, back.bins) == (texts, bins)
    # several boxes after one phrase, and the end-of-sequence tokens of a model's answer
    assert parse_florence2_od('</s><s>car<loc_1><loc_2><loc_3><loc_4><loc_5><loc_6><loc_7>'
                              '<loc_8></s>') == (['car', 'car'], [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert parse_florence2('<MORE_DETAILED_CAPTION>', 'A car.').captions == ['A car.']
    region = parse_florence2('<REGION_TO_DESCRIPTION><loc_1><loc_2><loc_3><loc_4>', 'a wheel')
    assert (region.texts, region.bins) == (['a wheel'], [[1, 2, 3, 4]])
    grounded = parse_florence2(
        '<CAPTION_TO_PHRASE_GROUNDING>A car on a road',
        'A car<loc_1><loc_2><loc_3><loc_4>a road<loc_0><loc_5><loc_9><loc_9>')
    assert grounded.captions == ['A car on a road'] and grounded.texts == ['A car', 'a road']
    assert parse_florence2('<OD>', 'café<loc_1><loc_2><loc_3><loc_4>').texts == ['café']


@pytest.mark.parametrize('prefix, suffix, match', [
    ('detect cat', '<loc0010><loc0020><loc0500> cat', 'does not start with 4 location'),
    ('detect cat', '<loc0010><loc0020><loc0500><loc0600>', 'object 0 name: empty text'),
    ('detect cat', '<loc0010><loc0020><loc0500><loc1600> cat', r'\[1600\] are outside'),
    ('detect cat', '<loc0500><loc0020><loc0010><loc0600> cat', 'inverted'),
    ('detect cat', '<loc0010><loc0020><loc0500><loc0600> cat <seg001>', 'segmentation'),
    ('segment cat', '<loc0010><loc0020><loc0500><loc0600> cat', 'is none of'),
    ('answer en what is it?', 'a cat', 'is none of'),
    ('caption en <loc0010><loc0020>', 'a cat', '2 location tokens'),
    ('caption en', '  ', 'empty text'),
])
def test_malformed_paligemma_strings_are_named(prefix, suffix, match):
    with pytest.raises(BoxStringError, match=match):
        parse_paligemma(prefix, suffix)


@pytest.mark.parametrize('prefix, suffix, match', [
    ('<OD>', '<loc_1><loc_2><loc_3><loc_4>', 'phrase before character 0: empty'),
    ('<OD>', 'car<loc_1><loc_2><loc_3>', '3 location tokens'),
    ('<OD>', 'car<loc_1><loc_2><loc_3><loc_4>tail', "'tail' at character 31"),
    ('<OD>', 'car<loc_1><loc_2><loc_3><loc_1000>', r'\[1000\] are outside'),
    ('<OD>', 'car<loc_9><loc_2><loc_3><loc_4>', 'inverted'),
    ('<OD>car', 'car<loc_1><loc_2><loc_3><loc_4>', 'takes no input'),
    ('<OCR>', 'some text', 'the task is none of'),
    ('<REGION_TO_DESCRIPTION>', 'a wheel', '0 location tokens'),
])
def test_malformed_florence2_strings_are_named(prefix, suffix, match):
    with pytest.raises(BoxStringError, match=match):
        parse_florence2(prefix, suffix)


def test_unspellable_texts_are_refused_on_export():
    with pytest.raises(BoxStringError, match='separator of "detect"'):
        format_paligemma(['salt ; pepper'], [[0, 0, 1, 1]])
    with pytest.raises(BoxStringError, match='holds a token'):
        format_florence2(['a <b>'], [[0, 0, 1, 1]])
    with pytest.raises(BoxStringError, match='2 texts but 1 boxes'):
        format_florence2(['a', 'b'], [[0, 0, 1, 1]])
