"""SwapLeftRight (datasets/transforms/text.py): flips move boxes and swap left/right."""
import numpy as np

from locca_mm.datasets.transforms import (
    LoadImage,
    LoadRegions,
    SwapLeftRight,
    swap_left_right,
)
from locca_mm.registry import TRANSFORMS
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import transform_results

register_all_modules()




def test_swap_left_right_keeps_case_and_word_boundaries():
    assert swap_left_right('Left of the right one, leftmost; RIGHT') == \
        'Right of the left one, rightmost; LEFT'
    assert swap_left_right('bright lefty copyright') == 'bright lefty copyright'


def test_horizontal_flip_mirrors_boxes_and_swaps_texts():
    results = LoadRegions()(LoadImage()(transform_results()))
    flip = TRANSFORMS.build(dict(type='mmdet.RandomFlip', prob=1.0, direction='horizontal'))
    out = SwapLeftRight()(flip(results))
    boxes = out['gt_bboxes'].numpy()
    np.testing.assert_allclose(boxes, [[80 - 25, 10, 80 - 5, 30], [80 - 78, 5, 80 - 40, 55]])
    assert out['captions'] == ['the dog right of the cat', 'Left here']
    assert out['regions']['texts'] == ['right dog', 'cat on the LEFT']
    assert out['ref_text'] == 'the rightmost dog'


def test_no_swap_without_horizontal_flip():
    results = LoadRegions()(LoadImage()(transform_results()))
    flip = TRANSFORMS.build(dict(type='mmdet.RandomFlip', prob=1.0, direction='vertical'))
    out = SwapLeftRight()(flip(results))
    assert out['regions']['texts'] == ['left dog', 'cat on the RIGHT']
