"""Bad holistic-transfer files raise errors naming the file and the record."""
import json
import os
import os.path as osp
import shutil

import pytest

from locca_mm.datasets import InvalidRecordError
from locca_mm.registry import DATASETS
from locca_mm.utils import register_all_modules
from tests.test_datasets.test_holistic import VQAV2
from tests.test_datasets.utils import DATA

register_all_modules()
H = osp.join(DATA, 'holistic')


def _edit_json(path, change):
    with open(path) as f:
        data = json.load(f)
    change(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def _edit_lines(path, index, line):
    with open(path) as f:
        rows = f.read().splitlines()
    rows[index] = line
    with open(path, 'w') as f:
        f.write('\n'.join(rows) + '\n')


def _vqa_no_question(root):
    _edit_json(osp.join(root, VQAV2['question_file']),
               lambda d: d['questions'][1].pop('question'))


def _vqa_empty_answer(root):
    def change(d):
        for a in d['annotations'][1]['answers']:
            a['answer'] = '  '
    _edit_json(osp.join(root, VQAV2['ann_file']), change)


def _vqa_no_image(root):
    os.remove(osp.join(root, 'train2014', 'COCO_train2014_000000000025.jpg'))


def _caption_empty(root):
    _edit_json(osp.join(root, 'annotations', 'coco_karpathy_train.json'),
               lambda d: d[2].update(caption=''))


def _caption_no_image(root):
    _edit_json(osp.join(root, 'annotations', 'coco_karpathy_train.json'),
               lambda d: d[1].pop('image'))


def _flickr_no_raw(root):
    _edit_json(osp.join(root, 'dataset_flickr30k.json'),
               lambda d: d['images'][1]['sentences'][0].pop('raw'))


def _gqa_no_answer(root):
    _edit_json(osp.join(root, 'train_balanced_questions.json'), lambda d: d[1].pop('answer'))


def _ocr_bad_split(root):
    _edit_json(osp.join(root, 'dataset.json'), lambda d: d['222'].update(split=7))


def _ocr_empty_answer(root):
    _edit_json(osp.join(root, 'dataset.json'), lambda d: d['111']['answers'].__setitem__(1, ''))


_CAPTION = dict(type='mmpretrain.COCOCaption', ann_file='annotations/coco_karpathy_train.json')
_FLICKR = dict(type='mmpretrain.Flickr30kCaption', data_prefix='flickr30k-images',
               ann_file='dataset_flickr30k.json', split='train')
_GQA = dict(type='mmpretrain.GQA', data_prefix='images', ann_file='train_balanced_questions.json')
_OCR = dict(type='mmpretrain.OCRVQA', data_prefix='images', ann_file='dataset.json',
            split='train')
_VQA = {k: v for k, v in VQAV2.items() if k != 'data_root'}
CASES = [
    ('coco', 'HolisticVQA', _VQA, _vqa_no_question,
     r'v2_OpenEnded_mscoco_train2014_questions.json#question_id=25001: question must be'),
    ('coco', 'HolisticVQA', _VQA, _vqa_empty_answer, r'#question_id=25001: empty answer'),
    ('coco', 'HolisticVQA', _VQA, _vqa_no_image, r'questions.json#1 \(no image with image_id 25'),
    ('coco', 'HolisticCaption', _CAPTION, _caption_empty,
     r'coco_karpathy_train.json#2: empty caption'),
    ('coco', 'HolisticCaption', _CAPTION, _caption_no_image,
     r"coco_karpathy_train.json#1 \(no 'image'\)"),
    ('flickr30k', 'HolisticCaption', _FLICKR, _flickr_no_raw,
     r"dataset_flickr30k.json#1 sentence 0 \(no 'raw'\)"),
    ('gqa', 'HolisticVQA', _GQA, _gqa_no_answer,
     r"train_balanced_questions.json#1 \(no 'answer'\)"),
    ('ocr-vqa', 'HolisticVQA', _OCR, _ocr_bad_split, r'dataset.json#222 \(split 7'),
    ('ocr-vqa', 'HolisticVQA', _OCR, _ocr_empty_answer,
     r"dataset.json#111 \('What is the title of this book\?'\): empty answer"),
    ('food-101', 'HolisticClassification', dict(type='mmpretrain.Food101', split='train'),
     lambda r: _edit_lines(osp.join(r, 'meta', 'train.txt'), 1, 'pancakez/1'),
     r"train.txt#1 \(unknown class 'pancakez'"),
    ('sun397', 'HolisticClassification', dict(type='mmpretrain.SUN397', split='train'),
     lambda r: _edit_lines(osp.join(r, 'Partitions', 'Training_01.txt'), 0, '/a/abyss/x.jpg'),
     r"Training_01.txt#0 \(unknown class 'abyss'"),
    ('oxford-iiit-pet', 'HolisticClassification',
     dict(type='mmpretrain.OxfordIIITPet', split='trainval'),
     lambda r: _edit_lines(osp.join(r, 'annotations', 'trainval.txt'), 2, 'Maine_Coon_3 cat'),
     r'trainval.txt#2 \(expected'),
    ('oxford-iiit-pet', 'HolisticClassification',
     dict(type='mmpretrain.OxfordIIITPet', split='trainval'),
     lambda r: _edit_lines(osp.join(r, 'annotations', 'trainval.txt'), 2, 'Maine_Coon_3 99 1 1'),
     r'trainval.txt#2: class index 98 is not one of the 37 classes'),
]


@pytest.mark.parametrize('root,kind,reader,corrupt,message', CASES,
                         ids=[f'{c[0]}-{c[3].__name__}' for c in CASES])
def test_a_bad_record_is_named(tmp_path, root, kind, reader, corrupt, message):
    data_root = str(tmp_path / root)
    shutil.copytree(osp.join(H, root), data_root)
    corrupt(data_root)
    with pytest.raises(InvalidRecordError, match=message):
        DATASETS.build(dict(type=kind, reader=dict(reader, data_root=data_root)))


def test_skip_invalid_drops_and_counts_the_bad_record(tmp_path):
    data_root = str(tmp_path / 'coco')
    shutil.copytree(osp.join(H, 'coco'), data_root)
    _vqa_empty_answer(data_root)
    ds = DATASETS.build(dict(type='HolisticVQA', reader=dict(VQAV2, data_root=data_root),
                             skip_invalid=True))
    assert ds.num_invalid == 1 and len(ds) == 2
    assert all('25001' not in ds.get_data_info(i)['source'] for i in range(len(ds)))


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        DATASETS.build(dict(type='HolisticCaption', reader=dict(
            _CAPTION, data_root=osp.join(H, 'coco'), ann_file='nowhere.json')))
    with pytest.raises(FileNotFoundError, match='class-name file not found'):
        DATASETS.build(dict(type='HolisticClassification', class_names=str(tmp_path / 'x.txt'),
                            reader=dict(type='mmpretrain.CustomDataset', data_prefix='train',
                                        data_root=osp.join(H, 'resisc45'))))
    with pytest.raises(KeyError, match='not an mmpretrain dataset'):
        DATASETS.build(dict(type='HolisticVQA', reader=dict(type='mmpretrain.NoSuchVQA')))
