"""WeightedConcatDataset: ratios honoured, deterministic, tokenizer passed down."""
from collections import Counter

import pytest

from locca_mm.datasets import SyntheticShapes, WeightedConcatDataset
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER, train_pipeline

register_all_modules()


def test_ratios_and_determinism():
    a = SyntheticShapes(num_samples=30, seed=1)
    b = SyntheticShapes(num_samples=10, seed=2)
    mix = WeightedConcatDataset([a, b], ratios=[1, 3], length=400, seed=0)
    counts = Counter(mix.source_of(i) for i in range(len(mix)))
    assert counts == {0: 100, 1: 300}
    # The small dataset is repeated evenly: every sample 30 times.
    idx = Counter(int(mix._sample[i]) for i in range(len(mix)) if mix.source_of(i) == 1)
    assert set(idx.values()) == {30}
    again = WeightedConcatDataset([a, b], ratios=[1, 3], length=400, seed=0)
    assert (again._which == mix._which).all() and (again._sample == mix._sample).all()


def test_configs_get_the_tokenizer():
    mix = WeightedConcatDataset(
        [dict(type='SyntheticShapes', num_samples=4, pipeline=train_pipeline()),
         dict(type='SyntheticShapes', num_samples=4, seed=5, pipeline=train_pipeline())],
        ratios=[1, 1], tokenizer=TOKENIZER)
    assert len(mix) == 8 and mix[3]['data_samples'].task_sequences


def test_bad_ratios():
    a = SyntheticShapes(num_samples=3)
    with pytest.raises(ValueError, match='one ratio per dataset'):
        WeightedConcatDataset([a], ratios=[1, 2])
    with pytest.raises(ValueError, match='non-negative'):
        WeightedConcatDataset([a, a], ratios=[0, 0])
