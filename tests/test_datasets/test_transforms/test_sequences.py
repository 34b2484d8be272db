"""BuildTaskSequences (datasets/transforms/sequences.py): sequences decode back; counts."""
import numpy as np
import pytest
import torch

from locca_mm.datasets.base import InvalidRecordError
from locca_mm.datasets.transforms import (
    BuildTaskSequences,
    LoadImage,
    LoadRegions,
    SampleRegions,
)
from locca_mm.registry import TRANSFORMS
from locca_mm.tokenizers import build_tokenizer
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER, transform_results

register_all_modules()




def test_task_sequences_decode_back_to_prompts_and_boxes():
    tok = build_tokenizer(TOKENIZER)
    results = LoadRegions()(LoadImage()(transform_results()))
    resize = TRANSFORMS.build(dict(type='mmdet.Resize', scale=(64, 64), keep_ratio=False))
    results = resize(results)
    np.random.seed(0)
    results = SampleRegions(score_thr=0.5)(results)
    results = BuildTaskSequences(tokenizer=TOKENIZER, caption='first')(results)
    seqs = results['task_sequences']
    assert tok.text_tokenizer.decode(seqs['cap'].tokens) == 'Cap:the dog left of the cat'
    # Only the region with score >= 0.5 is eligible; its box was resized with the image.
    expected = torch.tensor([5 * 64 / 80, 10 * 64 / 60, 25 * 64 / 80, 30 * 64 / 60])
    for task in ('aref', 'gcap'):
        ids = seqs[task].tokens
        loc = ids[tok.text_tokenizer.is_loc(ids)]
        box = tok.parse_box(loc, (64, 64))
        assert (box - expected).abs().max() <= 0.5 * 64 / tok.box_tokenizer.num_bins + 1e-4
        assert 'left dog' in tok.text_tokenizer.decode(ids)


def test_sample_without_regions_trains_cap_only_and_truncation_is_counted():
    results = LoadRegions()(LoadImage()(dict(transform_results(), captions=['word ' * 60])))
    results = SampleRegions(score_thr=0.99)(results)
    out = BuildTaskSequences(tokenizer=TOKENIZER)(results)
    assert set(out['task_sequences']) == {'cap'}
    assert out['data_stats']['truncated'] == 1


def test_nothing_to_train_on_is_an_invalid_record():
    results = LoadRegions()(LoadImage()(dict(transform_results(), captions=[])))
    results = SampleRegions(score_thr=0.99)(results)
    with pytest.raises(InvalidRecordError, match='test#0.*nothing to train on'):
        BuildTaskSequences(tokenizer=TOKENIZER)(results)


def test_without_a_tokenizer_the_error_says_where_to_give_it():
    with pytest.raises(ValueError, match='BuildTaskSequences has no tokenizer.*'
                       r'tokenizer=_base_\.tokenizer'):
        BuildTaskSequences()


def test_every_sample_carries_the_tokenizer_signature():
    results = LoadRegions()(LoadImage()(transform_results()))
    out = BuildTaskSequences(tokenizer=TOKENIZER)(SampleRegions(score_thr=0.5)(results))
    assert out['tokenizer_signature'] == build_tokenizer(TOKENIZER).signature
