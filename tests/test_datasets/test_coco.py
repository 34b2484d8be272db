"""CocoCaptionDataset (datasets/coco.py): COCO captions, joined with instances."""
import json
import os.path as osp

import numpy as np

from locca_mm.datasets import (
    CocoCaptionDataset,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, eval_pipeline, train_pipeline

register_all_modules()


def test_coco_captions_joined_with_instances():
    ds = CocoCaptionDataset(ann_file='annotations/captions_tiny.json',
                            instances_file='annotations/instances_tiny.json',
                            data_root=osp.join(DATA, 'coco'), data_prefix=dict(img_path='images'),
                            pipeline=train_pipeline(), tokenizer=TOKENIZER)
    with open(osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json')) as f:
        inst = json.load(f)
    assert len(ds) == 4
    info = ds.get_data_info(0)
    assert info['captions'] == ['a red circle and a blue square', '2 shapes']
    assert info['regions']['texts'] == ['circle', 'square']  # crowd annotation left out
    x, y, w, h = inst['annotations'][0]['bbox']
    np.testing.assert_allclose(info['regions']['bboxes'][0], [x, y, x + w, y + h])
    sample = ds[0]['data_samples']
    assert set(sample.task_sequences) == {'cap', 'aref', 'gcap'}
    assert sample.gt_caption in info['captions']


def test_coco_test_mode_is_a_caption_prediction():
    ds = CocoCaptionDataset(ann_file='annotations/captions_tiny.json',
                            data_root=osp.join(DATA, 'coco'), data_prefix=dict(img_path='images'),
                            pipeline=eval_pipeline(), test_mode=True)
    sample = ds[1]['data_samples']
    assert sample.task == 'cap' and len(sample.gt_captions) == 2


def test_coco_held_out_captions_can_be_scored_for_perplexity():
    ds = CocoCaptionDataset(ann_file='annotations/captions_tiny.json',
                            data_root=osp.join(DATA, 'coco'), data_prefix=dict(img_path='images'),
                            pipeline=eval_pipeline(), test_mode=True, eval_task='caption_nll')
    sample = ds[1]['data_samples']
    assert sample.task == 'caption_nll' and len(sample.gt_captions) == 2
