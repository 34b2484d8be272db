"""Transforms: flips move boxes and swap left/right; sequences decode back; counts."""
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from locca_mm.datasets.base import InvalidRecordError, make_regions
from locca_mm.datasets.transforms import (
    BuildTaskSequences,
    LoadImage,
    LoadRegions,
    PackLocCaInputs,
    SampleRegions,
    SwapLeftRight,
    swap_left_right,
)
from locca_mm.models.tokenizers import build_tokenizer
from locca_mm.registry import TRANSFORMS
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER

register_all_modules()


def _results(w=80, h=60):
    img = np.zeros((h, w, 3), dtype=np.uint8)
    return dict(img=img, source='test#0', captions=['the dog left of the cat', 'Right here'],
                regions=make_regions([[5, 10, 25, 30], [40, 5, 78, 55]],
                                     ['left dog', 'cat on the RIGHT'], [0.9, 0.2]),
                ref_text='the leftmost dog')


def test_swap_left_right_keeps_case_and_word_boundaries():
    assert swap_left_right('Left of the right one, leftmost; RIGHT') == \
        'Right of the left one, rightmost; LEFT'
    assert swap_left_right('bright lefty copyright') == 'bright lefty copyright'


def test_horizontal_flip_mirrors_boxes_and_swaps_texts():
    results = LoadRegions()(LoadImage()(_results()))
    flip = TRANSFORMS.build(dict(type='mmdet.RandomFlip', prob=1.0, direction='horizontal'))
    out = SwapLeftRight()(flip(results))
    boxes = out['gt_bboxes'].numpy()
    np.testing.assert_allclose(boxes, [[80 - 25, 10, 80 - 5, 30], [80 - 78, 5, 80 - 40, 55]])
    assert out['captions'] == ['the dog right of the cat', 'Left here']
    assert out['regions']['texts'] == ['right dog', 'cat on the LEFT']
    assert out['ref_text'] == 'the rightmost dog'


def test_no_swap_without_horizontal_flip():
    results = LoadRegions()(LoadImage()(_results()))
    flip = TRANSFORMS.build(dict(type='mmdet.RandomFlip', prob=1.0, direction='vertical'))
    out = SwapLeftRight()(flip(results))
    assert out['regions']['texts'] == ['left dog', 'cat on the RIGHT']


def test_task_sequences_decode_back_to_prompts_and_boxes():
    tok = build_tokenizer(TOKENIZER)
    results = LoadRegions()(LoadImage()(_results()))
    resize = TRANSFORMS.build(dict(type='mmdet.Resize', scale=(64, 64), keep_ratio=False))
    results = resize(results)
    np.random.seed(0)
    results = SampleRegions(score_thr=0.5)(results)
    results = BuildTaskSequences(tokenizer=TOKENIZER, caption='first')(results)
    seqs = results['task_sequences']
    assert tok.text.decode(seqs['cap'].tokens) == 'Cap:the dog left of the cat'
    # Only the region with score >= 0.5 is eligible; its box was resized with the image.
    expected = torch.tensor([5 * 64 / 80, 10 * 64 / 60, 25 * 64 / 80, 30 * 64 / 60])
    for task in ('aref', 'gcap'):
        ids = seqs[task].tokens
        loc = ids[tok.text.is_loc(ids)]
        box = tok.parse_box(loc, (64, 64))
        assert (box - expected).abs().max() <= 0.5 * 64 / tok.box.num_bins + 1e-4
        assert 'left dog' in tok.text.decode(ids)


def test_regions_below_threshold_or_degenerate_are_not_sampled_and_are_counted():
    results = LoadRegions()(LoadImage()(_results()))
    crop = dict(results)
    # A geometric transform left region 1 with zero width.
    crop['gt_bboxes'] = HorizontalBoxes(np.array([[5, 10, 25, 30], [40, 5, 40, 55]], np.float32))
    out = SampleRegions(score_thr=0.1)(crop)
    assert {r['index'] for r in out['sampled_regions'].values()} == {0}
    assert out['data_stats'] == {'dropped_regions': 1}
    none = SampleRegions(score_thr=0.95)(LoadRegions()(LoadImage()(_results())))
    assert none['sampled_regions'] == {}


def test_sample_without_regions_trains_cap_only_and_truncation_is_counted():
    results = LoadRegions()(LoadImage()(dict(_results(), captions=['word ' * 60])))
    results = SampleRegions(score_thr=0.99)(results)
    out = BuildTaskSequences(tokenizer=TOKENIZER)(results)
    assert set(out['task_sequences']) == {'cap'}
    assert out['data_stats']['truncated'] == 1


def test_nothing_to_train_on_is_an_invalid_record():
    results = LoadRegions()(LoadImage()(dict(_results(), captions=[])))
    results = SampleRegions(score_thr=0.99)(results)
    with pytest.raises(InvalidRecordError, match='test#0.*nothing to train on'):
        BuildTaskSequences(tokenizer=TOKENIZER)(results)


def test_pack_builds_a_data_sample():
    results = LoadRegions()(LoadImage()(_results()))
    results = BuildTaskSequences(tokenizer=TOKENIZER)(SampleRegions()(results))
    packed = PackLocCaInputs()(results)
    assert packed['inputs'].shape == (3, 60, 80) and packed['inputs'].dtype == torch.uint8
    ds = packed['data_samples']
    assert ds.gt_instances.texts == ['left dog', 'cat on the RIGHT']
    assert torch.equal(ds.gt_instances.scores, torch.tensor([0.9, 0.2]))
    assert ds.prompt_text == 'the leftmost dog' and ds.metainfo['source'] == 'test#0'


def test_region_outside_the_image_is_an_invalid_record():
    results = LoadImage()(dict(_results(), regions=make_regions([[90, 0, 99, 10]], ['x'])))
    with pytest.raises(InvalidRecordError, match=r'test#0: region 0 box .* outside the 80x60'):
        LoadRegions()(results)
