"""BoxTokenizer: bins of pixel boxes, round trips within half a bin, bad boxes named."""
import math

import pytest
import torch

from locca_mm.registry import TOKENIZERS
from locca_mm.tokenizers import BoxTokenizer


def _random_boxes(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = (torch.rand(n, 2, generator=g) * w).sort(dim=1).values
    ys = (torch.rand(n, 2, generator=g) * h).sort(dim=1).values
    return torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)


@pytest.mark.parametrize('order', ['yxyx', 'xyxy'])
@pytest.mark.parametrize('num_bins', [7, 100, 1000])
def test_round_trip_within_half_a_bin(order, num_bins):
    h, w = 375, 500
    boxes = _random_boxes(200, h, w)
    tok = BoxTokenizer(num_bins, order=order)
    bins = tok.encode(boxes, (h, w))
    assert bins.dtype == torch.long and bins.shape == (200, 4)
    assert bins.min() >= 0 and bins.max() < num_bins
    back = tok.decode(bins, (h, w))
    half = torch.tensor([w, h, w, h]) / num_bins / 2
    assert ((back - boxes).abs() <= half + 1e-4).all()


def test_round_trip_per_box_image_shapes():
    sizes = torch.tensor([[100., 300.], [640., 480.], [17., 23.]])  # (h, w) per box
    boxes = torch.cat([_random_boxes(1, h, w, seed=i) for i, (h, w) in enumerate(sizes.tolist())])
    tok = BoxTokenizer(50)
    back = tok.decode(tok.encode(boxes, sizes), sizes)
    half = sizes.flip(1).repeat(1, 2) / 50 / 2
    assert ((back - boxes).abs() <= half + 1e-4).all()


def test_hand_computed_bins():
    tok = BoxTokenizer(10, order='xyxy')
    boxes = torch.tensor([[0., 0., 200., 100.],    # the whole image: far edges join bin 9
                          [19.9, 10., 20., 55.],   # 0.995 -> 0; 1.0 -> 1; 5.5 -> 5
                          [40., 30., 40., 30.]])   # a point is a valid box
    expected = [[0, 0, 9, 9], [0, 1, 1, 5], [2, 3, 2, 3]]
    assert tok.encode(boxes, (100, 200)).tolist() == expected
    yxyx = BoxTokenizer(10).encode(boxes, (100, 200)).tolist()
    assert yxyx == [[y1, x1, y2, x2] for x1, y1, x2, y2 in expected]
    assert tok.decode(torch.tensor([[0, 1, 9, 5]]), (100, 200)).tolist() == \
        [[10., 15., 190., 55.]]


def test_out_of_image_boxes_are_clipped():
    tok = BoxTokenizer(10, order='xyxy')
    boxes = torch.tensor([[-50., -10., 700., 500.], [150., -5., 900., 40.]])
    assert tok.encode(boxes, (480, 640)).tolist() == [[0, 0, 9, 9], [2, 0, 9, 0]]


def test_inverted_box_is_named():
    boxes = torch.tensor([[0., 0., 10., 10.], [30., 5., 20., 8.]])
    with pytest.raises(ValueError, match=r'box 1 has x2 < x1.*30\.0, 5\.0, 20\.0, 8\.0'):
        BoxTokenizer(10).encode(boxes, (50, 50))


@pytest.mark.parametrize('bad', [math.nan, math.inf])
def test_non_finite_box_is_named(bad):
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 2., 2.], [0., bad, 5., 5.]])
    with pytest.raises(ValueError, match=f'box 2 has a non-finite coordinate.*{bad}'):
        BoxTokenizer(10).encode(boxes, (50, 50))


def test_no_boxes():
    tok = BoxTokenizer(10)
    bins = tok.encode(torch.zeros(0, 4), (50, 60))
    assert bins.shape == (0, 4) and bins.dtype == torch.long
    assert tok.decode(bins, (50, 60)).shape == (0, 4)
    assert tok.encode(torch.zeros(0, 4), torch.zeros(0, 2) + 5).shape == (0, 4)


def test_decode_keeps_leading_dims_and_checks_bins():
    tok = BoxTokenizer(8)
    bins = torch.randint(0, 8, (2, 3, 4))
    assert tok.decode(bins, (32, 64)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match=r'\[0, 8\)'):
        tok.decode(torch.tensor([[0, 0, 8, 1]]), (32, 64))


def test_bad_arguments():
    with pytest.raises(ValueError, match='order'):
        BoxTokenizer(10, order='xywh')
    with pytest.raises(ValueError, match='num_bins'):
        BoxTokenizer(0)
    tok = BoxTokenizer(10)
    with pytest.raises(ValueError, match=r'\[N, 4\]'):
        tok.encode(torch.zeros(4), (10, 10))
    with pytest.raises(ValueError, match='does not match'):
        tok.encode(torch.zeros(3, 4), torch.ones(2, 2))
    with pytest.raises(ValueError, match='positive'):
        tok.encode(torch.zeros(1, 4), (0, 10))


def test_built_from_config():
    tok = TOKENIZERS.build(dict(type='BoxTokenizer', num_bins=32, order='xyxy'))
    assert isinstance(tok, BoxTokenizer)
    assert (tok.num_bins, tok.order) == (32, 'xyxy')
    assert repr(tok) == "BoxTokenizer(num_bins=32, order='xyxy')"
