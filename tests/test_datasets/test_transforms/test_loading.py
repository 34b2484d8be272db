"""LoadImage / LoadRegions (datasets/transforms/loading.py)."""
import pytest

from locca_mm.datasets.base import InvalidRecordError, make_regions
from locca_mm.datasets.transforms import (
    LoadImage,
    LoadRegions,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import transform_results

register_all_modules()




def test_region_outside_the_image_is_an_invalid_record():
    results = LoadImage()(dict(transform_results(), regions=make_regions([[90, 0, 99, 10]], ['x'])))
    with pytest.raises(InvalidRecordError, match=r'test#0: region 0 box .* outside the 80x60'):
        LoadRegions()(results)
