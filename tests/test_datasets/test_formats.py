"""Every dataset reads its real on-disk format: lengths and boxes are what the files say."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from locca_mm.datasets import (
    CocoCaptionDataset,
    JsonlDataset,
    RefCOCODataset,
    ShardedTarDataset,
    VisualGenomeDataset,
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


def test_visual_genome_regions():
    ds = VisualGenomeDataset(ann_file='region_descriptions.json',
                             image_data_file='image_data.json', data_root=osp.join(DATA, 'vg'),
                             pipeline=train_pipeline(tasks=('aref', 'gcap')), tokenizer=TOKENIZER)
    assert len(ds) == 4
    info = ds.get_data_info(1)
    assert info['img_path'].endswith('VG_100K_2/2.jpg')
    assert info['regions']['texts'] == ['the green square', 'the red square']
    np.testing.assert_allclose(info['regions']['bboxes'][1], [10, 36, 30, 56])
    assert info['captions'] == []
    assert set(ds[1]['data_samples'].task_sequences) == {'aref', 'gcap'}


@pytest.mark.parametrize('split_file,split,n', [
    ('refs(unc).p', 'val', 4), ('refs(unc).p', 'testB', 6), ('refs(umd).p', 'train', 10),
    ('refs(umd).p', 'test', 2)])
def test_refcoco_one_sample_per_expression(split_file, split, n):
    ds = RefCOCODataset(ann_file='instances.json', split_file=split_file, split=split,
                        data_root=osp.join(DATA, 'refcoco'),
                        data_prefix=dict(img_path='train2014'), pipeline=eval_pipeline(),
                        test_mode=True)
    with open(osp.join(DATA, 'refcoco', split_file), 'rb') as f:
        refs = pickle.load(f)
    expected = sum(len(r['sentences']) for r in refs if r['split'] == split)
    assert len(ds) == expected == n
    sample = ds[0]['data_samples']
    assert sample.task == 'ref' and sample.prompt_text
    # The evaluation box is the object's, in original-image pixels.
    info = ds.get_data_info(0)
    assert torch.equal(sample.gt_ref_bbox, torch.tensor(info['ref_bbox'], dtype=torch.float32))
    assert sample.metainfo['ori_shape'] == (info['height'], info['width'])


def test_refcoco_unknown_split_is_named():
    with pytest.raises(ValueError, match="split 'testC'"):
        RefCOCODataset(ann_file='instances.json', split='testC',
                       data_root=osp.join(DATA, 'refcoco'))


def test_refcoco_refs_file_cannot_run_code(tmp_path):
    import shutil
    root = tmp_path / 'refcoco'
    shutil.copytree(osp.join(DATA, 'refcoco'), root)

    class Evil:
        def __reduce__(self):
            return (print, ('pwned', ))

    with open(root / 'refs(unc).p', 'wb') as f:
        pickle.dump([Evil()], f)
    with pytest.raises(ValueError, match='refusing to load builtins.print'):
        RefCOCODataset(ann_file='instances.json', split='val', data_root=str(root))


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


def test_sharded_tar_dataset_reads_every_member(tmp_path):
    import shutil
    shutil.copytree(osp.join(DATA, 'shards'), tmp_path / 'shards')
    ds = ShardedTarDataset(shards=str(tmp_path / 'shards' / 'shard-{000000..000001}.tar'),
                           pipeline=train_pipeline(), tokenizer=TOKENIZER)
    assert len(ds) == 12
    assert (tmp_path / 'shards' / 'shard-000000.tar.idx.json').exists()  # index cached
    jsonl = JsonlDataset(ann_file=osp.join(DATA, 'jsonl', 'pairs.jsonl'),
                         data_prefix=dict(img_path=osp.join(DATA, 'jsonl', 'images')))
    for i in range(12):
        info = ds.get_data_info(i)
        same = jsonl.get_data_info(i % 4)  # shard member i repeats scene i mod 4
        np.testing.assert_allclose(info['regions']['bboxes'], same['regions']['bboxes'])
        assert info['captions'] == same['captions']
    sample = ds[5]['data_samples']
    assert sample.task_sequences
    assert sample.metainfo['img_path'].endswith('shard-000000.tar:0005_sample0001')
    # The cached index gives the same dataset.
    again = ShardedTarDataset(shards=str(tmp_path / 'shards' / '*.tar'))
    assert [again.sample_key(i) for i in range(12)] == [ds.sample_key(i) for i in range(12)]


@pytest.mark.parametrize('config,splits', [('refcoco', ['val', 'testA', 'testB']),
                                           ('refcocog', ['val', 'test'])])
def test_refcoco_data_configs_carry_the_split_to_each_sample(config, splits):
    from mmengine.config import Config

    from locca_mm.registry import DATASETS
    from tests.conftest import ROOT
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', f'{config}.py'))
    for d in cfg.test_dataloader.dataset.datasets:
        d.data_root = osp.join(DATA, 'refcoco')
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    seen = {ds[i]['data_samples'].metainfo['split'] for i in range(len(ds))}
    assert seen == set(splits)
