"""COCO detection data: an instances file alone, every object in one GCap sequence."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from locca_mm.datasets import CocoCaptionDataset
from locca_mm.tokenizers import LocCaTokenizer
from locca_mm.tokenizers.detection import parse_detection_sequence
from locca_mm.utils import register_all_modules
from tests.conftest import ROOT
from tests.test_datasets.utils import DATA, TOKENIZER

register_all_modules()
BASE = osp.join(ROOT, 'configs', '_base_', 'datasets', 'coco_detection.py')
INSTANCES = osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json')


def objects_by_image():
    with open(INSTANCES) as f:
        inst = json.load(f)
    names = {c['id']: c['name'] for c in inst['categories']}
    out = {}
    for a in inst['annotations']:
        if not a['iscrowd']:
            out.setdefault(a['image_id'], []).append(names[a['category_id']])
    return out


def dataset(split: str, **kwargs):
    """The config base's train or val dataset, on the fixture."""
    cfg = Config.fromfile(BASE)[f'{split}_dataloader']['dataset'].to_dict()
    cfg.pop('type')
    cfg.update(data_root=osp.join(DATA, 'coco'), ann_file='annotations/instances_tiny.json',
               data_prefix=dict(img_path='images/'), **kwargs)
    for t in cfg['pipeline']:
        if t['type'] == 'Resize':
            t['scale'] = (64, 64)
    return CocoCaptionDataset(**cfg)


def test_an_instances_file_alone_gives_the_objects_without_captions():
    ds = dataset('train', tokenizer=TOKENIZER)
    expected = objects_by_image()
    assert len(ds) == len(expected)
    assert ds.metainfo['classes'] == ('circle', 'square')
    tok = LocCaTokenizer(**{k: v for k, v in TOKENIZER.items() if k != 'type'})
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['captions'] == [] and sorted(info['regions']['texts']) == \
            sorted(expected[info['img_id']])
        sample = ds[i]['data_samples']
        assert set(sample.task_sequences) == {'gcap'}
        seq = sample.task_sequences['gcap']
        boxes, texts, _ = parse_detection_sequence(tok, seq.tokens[seq.prefix_len:], (64, 64))
        assert sorted(texts) == sorted(expected[info['img_id']])  # every object, some order
        assert bool((boxes[:, 2] > boxes[:, 0]).all())


def test_test_mode_asks_for_detect_seq_on_every_image(tmp_path):
    ds = dataset('val')
    assert [ds[i]['data_samples'].task for i in range(len(ds))] == ['detect_seq'] * 4
    # An image whose only object is a crowd is still tested (and not trained on).
    with open(INSTANCES) as f:
        inst = json.load(f)
    inst['annotations'] = [a for a in inst['annotations'] if a['image_id'] != 3]
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(inst))
    kwargs = dict(ann_file=str(path), data_root='', data_prefix=dict(img_path=''),
                  lazy_init=True)
    assert len(CocoCaptionDataset(test_mode=True, **kwargs)) == 4
    assert len(CocoCaptionDataset(**kwargs)) == 3


def test_a_bad_object_names_its_record(tmp_path):
    from locca_mm.datasets import InvalidRecordError
    with open(INSTANCES) as f:
        inst = json.load(f)
    inst['annotations'][2]['bbox'] = [5, 5, 0, 10]
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(inst))
    with pytest.raises(InvalidRecordError, match='image_id=2 instance 1020'):
        CocoCaptionDataset(ann_file=str(path), data_root='', data_prefix=dict(img_path=''))
    with pytest.raises(ValueError, match='eval_task'):
        CocoCaptionDataset(ann_file=str(path), eval_task='segment')
