"""PackLocCaInputs (datasets/transforms/formatting.py): a data sample from the results."""
import torch

from locca_mm.datasets.transforms import (
    BuildTaskSequences,
    LoadImage,
    LoadRegions,
    PackLocCaInputs,
    SampleRegions,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER, transform_results

register_all_modules()




def test_pack_builds_a_data_sample():
    results = LoadRegions()(LoadImage()(transform_results()))
    results = BuildTaskSequences(tokenizer=TOKENIZER)(SampleRegions()(results))
    packed = PackLocCaInputs()(results)
    assert packed['inputs'].shape == (3, 60, 80) and packed['inputs'].dtype == torch.uint8
    ds = packed['data_samples']
    assert ds.gt_instances.texts == ['left dog', 'cat on the RIGHT']
    assert torch.equal(ds.gt_instances.scores, torch.tensor([0.9, 0.2]))
    assert ds.prompt_text == 'the leftmost dog' and ds.metainfo['source'] == 'test#0'
