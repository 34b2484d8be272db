"""JsonlDataset (datasets/jsonl.py): one image-text pair with regions per line."""
import json
import os.path as osp

import numpy as np

from locca_mm.datasets import (
    JsonlDataset,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, train_pipeline

register_all_modules()


def test_jsonl_pairs():
    ds = JsonlDataset(ann_file=osp.join(DATA, 'jsonl', 'pairs.jsonl'),
                      data_prefix=dict(img_path=osp.join(DATA, 'jsonl', 'images')),
                      pipeline=train_pipeline(), tokenizer=TOKENIZER)
    with open(osp.join(DATA, 'jsonl', 'pairs.jsonl')) as f:
        records = [json.loads(line) for line in f]
    assert len(ds) == len(records) == 4
    for i, rec in enumerate(records):
        info = ds.get_data_info(i)
        assert info['captions'] == [rec['caption']]
        np.testing.assert_allclose(info['regions']['bboxes'],
                                   [r['bbox'] for r in rec['regions']])
        np.testing.assert_allclose(info['regions']['scores'], [r['score'] for r in rec['regions']])
        assert info['source'] == f'pairs.jsonl:{i + 1}'
