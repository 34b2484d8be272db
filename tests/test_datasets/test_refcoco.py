"""RefCOCODataset (datasets/refcoco.py): one sample per expression, safe refs files."""
import os.path as osp
import pickle

import pytest
import torch

from locca_mm.datasets import (
    RefCOCODataset,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, eval_pipeline

register_all_modules()


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
