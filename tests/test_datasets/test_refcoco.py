"""RefCOCODataset (datasets/refcoco.py): one sample per expression, safe refs files."""
import os.path as osp
import pickle

import pytest
import torch

from locca_mm.datasets import (
    RefCOCODataset,
)
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, eval_pipeline

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


# ------------------------------------------------------------------ the union's held-out images
UNC_HELDOUT = dict(split_file='refs(unc).p', splits=['val', 'testA', 'testB'])


def _refs(split_file):
    with open(osp.join(DATA, 'refcoco', split_file), 'rb') as f:
        return pickle.load(f)


def _umd_train(**kwargs):
    return RefCOCODataset(ann_file='instances.json', split_file='refs(umd).p', split='train',
                          data_root=osp.join(DATA, 'refcoco'),
                          data_prefix=dict(img_path='train2014'), **kwargs)


def test_exclude_images_of_leaves_out_every_image_of_the_heldout_splits():
    from unittest import mock
    heldout = {r['image_id'] for r in _refs('refs(unc).p') if r['split'] != 'train'}
    train = [r for r in _refs('refs(umd).p') if r['split'] == 'train']
    kept = [r for r in train if r['image_id'] not in heldout]
    gone = [r for r in train if r['image_id'] in heldout]
    assert kept and gone  # the fixture has an overlap: a RefCOCOg train image in UNC testB
    with mock.patch('locca_mm.datasets.refcoco.print_log') as log:
        ds = _umd_train(exclude_images_of=[UNC_HELDOUT])
    assert len(ds) == sum(len(r['sentences']) for r in kept) < len(_umd_train())
    names = {osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))}
    assert names == {f'COCO_train2014_{r["image_id"]:012d}.jpg' for r in kept}
    expected = dict(images=len({r['image_id'] for r in gone}), refs=len(gone),
                    expressions=sum(len(r['sentences']) for r in gone))
    assert ds.num_excluded == expected
    (message, ), _ = log.call_args
    assert f'left out {expected["expressions"]} expressions ({expected["refs"]} refs) on ' \
           f'{expected["images"]} images' in message and 'refs(unc).p' in message


def test_exclude_images_of_reads_other_releases_from_their_own_root(tmp_path):
    import shutil
    other = tmp_path / 'refcocog'
    other.mkdir()
    shutil.copy(osp.join(DATA, 'refcoco', 'refs(umd).p'), other / 'refs(umd).p')
    ds = RefCOCODataset(ann_file='instances.json', split='train',
                        data_root=osp.join(DATA, 'refcoco'), exclude_images_of=[
                            dict(data_root=str(other), split_file='refs(umd).p',
                                 splits=['val', 'test'])])
    umd_heldout = {r['image_id'] for r in _refs('refs(umd).p') if r['split'] != 'train'}
    unc_train = [r for r in _refs('refs(unc).p') if r['split'] == 'train']
    assert len(ds) == sum(len(r['sentences']) for r in unc_train
                          if r['image_id'] not in umd_heldout)


@pytest.mark.parametrize('entry,match', [
    (dict(split_file='refs(unc).p', splits=['testC']), r"split 'testC' is not in .*refs\(unc\)"),
    (dict(split_file='refs(unc).p', splits=[]), 'must name at least one split'),
    (dict(splits=['val']), r'dict\(split_file=...'),
    (dict(split_file='missing.p', splits=['val']), 'refs file not found: .*missing.p'),
    (dict(split_file='refs(umd).p', splits=['train']), "own split 'train'"),
])
def test_exclude_images_of_bad_entries_are_named(entry, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        _umd_train(exclude_images_of=[entry])


def test_dataset_name_qualifies_each_samples_split():
    ds = RefCOCODataset(ann_file='instances.json', split='val', dataset_name='refcocop',
                        data_root=osp.join(DATA, 'refcoco'),
                        data_prefix=dict(img_path='train2014'), pipeline=eval_pipeline(),
                        test_mode=True)
    assert ds[0]['data_samples'].metainfo['split'] == 'refcocop/val'


def test_union_config_trains_on_no_evaluated_image_and_names_every_split():
    from mmengine.config import Config

    from locca_mm.cli import leaf_datasets
    from locca_mm.registry import DATASETS
    from tests.config_runs import _to_fixtures
    from tests.conftest import ROOT
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', 'refcoco_union.py'))
    for phase in ('train', 'val', 'test'):
        for d in leaf_datasets(cfg[f'{phase}_dataloader'].dataset):
            _to_fixtures(d)
            d['tokenizer'] = TOKENIZER
    train = DATASETS.build(cfg.train_dataloader.dataset)
    test = DATASETS.build(cfg.test_dataloader.dataset)
    evaluated = {test.get_data_info(i)['img_path'] for i in range(len(test))}
    trained = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    assert trained and not trained & evaluated
    assert [d.num_excluded['expressions'] for d in train.datasets] == [0, 0, 6]
    splits = {test.get_data_info(i)['split'] for i in range(len(test))}
    assert splits == {'refcoco/val', 'refcoco/testA', 'refcoco/testB', 'refcocop/val',
                      'refcocop/testA', 'refcocop/testB', 'refcocog/val', 'refcocog/test'}
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert {val.get_data_info(i)['split'] for i in range(len(val))} == {
        'refcoco/val', 'refcocop/val', 'refcocog/val'}
