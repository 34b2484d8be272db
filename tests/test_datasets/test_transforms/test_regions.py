"""SampleRegions (datasets/transforms/regions.py): what is sampled, what is counted."""
import numpy as np
from mmdet.structures.bbox import HorizontalBoxes

from locca_mm.datasets.transforms import (
    LoadImage,
    LoadRegions,
    SampleRegions,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import transform_results

register_all_modules()




def test_regions_below_threshold_or_degenerate_are_not_sampled_and_are_counted():
    results = LoadRegions()(LoadImage()(transform_results()))
    crop = dict(results)
    # A geometric transform left region 1 with zero width.
    crop['gt_bboxes'] = HorizontalBoxes(np.array([[5, 10, 25, 30], [40, 5, 40, 55]], np.float32))
    out = SampleRegions(score_thr=0.1)(crop)
    assert {r['index'] for r in out['sampled_regions'].values()} == {0}
    assert out['data_stats'] == {'dropped_regions': 1}
    none = SampleRegions(score_thr=0.95)(LoadRegions()(LoadImage()(transform_results())))
    assert none['sampled_regions'] == {}
