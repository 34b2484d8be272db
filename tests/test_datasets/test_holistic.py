"""The holistic transfers' datasets (datasets/holistic*.py) on tests/data/holistic/, the
fixtures of tests/data/make_holistic_fixtures.py in each benchmark's released layout."""
import json
import os
import os.path as osp
from collections import Counter

import pytest
import torch

from locca_mm.datasets import InvalidRecordError
from locca_mm.datasets.holistic import imagenet_class_names
from locca_mm.datasets.holistic_text import answer_counts
from locca_mm.evaluation import normalize_class_text
from locca_mm.registry import DATASETS
from locca_mm.structures import TaskBatch
from locca_mm.tokenizers import build_tokenizer
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER

register_all_modules()
H = osp.join(DATA, 'holistic')
TRAIN = [dict(type='LoadImage'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
         dict(type='BuildTaskSequences', tasks=('cap', )), dict(type='PackLocCaInputs')]
TEST = [dict(type='LoadImage'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='PackLocCaInputs')]
VQAV2 = dict(type='mmpretrain.COCOVQA', data_root=osp.join(H, 'coco'),
             data_prefix='train2014',
             question_file='annotations/v2_OpenEnded_mscoco_train2014_questions.json',
             ann_file='annotations/v2_mscoco_train2014_annotations.json')


def build(kind, reader, **kwargs):
    return DATASETS.build(dict(type=kind, reader=reader, tokenizer=TOKENIZER, **kwargs))


def lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def load(path):
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- classification
def _food_labels():
    from mmpretrain.datasets.categories import FOOD101_CATEGORIES
    return [FOOD101_CATEGORIES.index(x.split('/')[0])
            for x in lines(osp.join(H, 'food-101', 'meta', 'test.txt'))]


def _pets_labels():
    return [int(x.split()[1]) - 1
            for x in lines(osp.join(H, 'oxford-iiit-pet', 'annotations', 'trainval.txt'))]


def _imagenet_labels():
    return [int(x.split()[1]) for x in lines(osp.join(H, 'imagenet', 'meta', 'val.txt'))]


def _sun_labels():
    from mmpretrain.datasets.categories import SUN397_CATEGORIES
    return [SUN397_CATEGORIES.index('_'.join(x.split('/')[2:-1]))
            for x in lines(osp.join(H, 'sun397', 'Partitions', 'Testing_01.txt'))]


def _resisc_labels():
    folders = sorted(os.listdir(osp.join(H, 'resisc45', 'test')))
    return [folders.index(c) for c in folders for _ in os.listdir(osp.join(H, 'resisc45',
                                                                            'test', c))]


CLASSIFICATION = [
    (dict(type='mmpretrain.Food101', split='test'), 'food-101', None, _food_labels),
    (dict(type='mmpretrain.OxfordIIITPet', split='trainval'), 'oxford-iiit-pet', None,
     _pets_labels),
    (dict(type='mmpretrain.ImageNet', split='val'), 'imagenet', 'imagenet', _imagenet_labels),
    (dict(type='mmpretrain.SUN397', split='test'), 'sun397', None, _sun_labels),
    (dict(type='mmpretrain.CustomDataset', data_prefix='test'), 'resisc45', None,
     _resisc_labels),
]


@pytest.mark.parametrize('reader,root,names,labels', CLASSIFICATION,
                         ids=[c[1] for c in CLASSIFICATION])
def test_classification_readers_give_class_names_as_captions(reader, root, names, labels):
    ds = build('HolisticClassification', dict(reader, data_root=osp.join(H, root)),
               class_names=names, pipeline=TEST, test_mode=True)
    classes = ds.metainfo['classes']
    assert all('_' not in c for c in classes)
    expected = labels()
    assert [ds.get_data_info(i)['gt_label'] for i in range(len(ds))] == expected
    for i, label in enumerate(expected):
        info = ds.get_data_info(i)
        assert info['captions'] == [classes[label]] and info['task'] == 'cap'
        assert osp.isfile(info['img_path'])
    sample = ds[0]['data_samples']
    assert sample.gt_label == expected[0] and sample.task == 'cap'
    assert sample.gt_captions == [classes[expected[0]]]


def test_imagenet_names_are_readable_and_tell_every_class_apart():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == 'tench'
    assert len({normalize_class_text(n) for n in names}) == 1000
    assert (names[657], names[744], names[836], names[837]) == (
        'missile', 'projectile', 'sunglass', 'sunglasses')


def test_class_names_given_as_a_list_or_a_file(tmp_path):
    reader = dict(type='mmpretrain.CustomDataset', data_root=osp.join(H, 'resisc45'),
                  data_prefix='train')
    ds = build('HolisticClassification', reader, class_names=['plane', 'diamond', 'sand'])
    assert ds.metainfo['classes'] == ('plane', 'diamond', 'sand')
    assert ds.get_data_info(0)['captions'] == ['plane']
    (tmp_path / 'names.txt').write_text('plane\nball field\nsea shore\n')
    ds = build('HolisticClassification', reader, class_names=str(tmp_path / 'names.txt'))
    assert ds.metainfo['classes'][1] == 'ball field'
    with pytest.raises(ValueError, match='2 class names for the 3 classes'):
        build('HolisticClassification', reader, class_names=['a', 'b'])
    with pytest.raises(InvalidRecordError, match=r'class_names\[1\]: empty class name'):
        build('HolisticClassification', reader, class_names=['a', ' ', 'c'])


# ---------------------------------------------------------------- captioning
def test_coco_karpathy_captions_are_grouped_by_image():
    reader = dict(type='mmpretrain.COCOCaption', data_root=osp.join(H, 'coco'))
    records = load(osp.join(H, 'coco', 'annotations', 'coco_karpathy_train.json'))
    train = build('HolisticCaption', dict(reader, ann_file='annotations/coco_karpathy_train.json'),
                  pipeline=TRAIN)
    by_image = {}
    for r in records:
        by_image.setdefault(r['image'], []).append(r['caption'])
    assert len(train) == len(by_image) < len(records)
    for i in range(len(train)):
        info = train.get_data_info(i)
        assert info['captions'] == by_image[osp.relpath(info['img_path'], osp.join(H, 'coco'))]
    assert train[0]['data_samples'].gt_caption in train.get_data_info(0)['captions']
    test = build('HolisticCaption', dict(reader, ann_file='annotations/coco_karpathy_test.json'),
                 pipeline=TEST, test_mode=True)
    records = load(osp.join(H, 'coco', 'annotations', 'coco_karpathy_test.json'))
    assert [test.get_data_info(i)['captions'] for i in range(len(test))] == \
        [r['caption'] for r in records]
    sample = test[1]['data_samples']
    assert sample.task == 'cap' and sample.gt_captions == records[1]['caption']


@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_flickr30k_karpathy_split(split):
    reader = dict(type='mmpretrain.Flickr30kCaption', data_root=osp.join(H, 'flickr30k'),
                  data_prefix='flickr30k-images', ann_file='dataset_flickr30k.json', split=split)
    images = [im for im in load(osp.join(H, 'flickr30k', 'dataset_flickr30k.json'))['images']
              if im['split'] == split]
    ds = build('HolisticCaption', reader, pipeline=TEST, test_mode=split != 'train')
    assert len(ds) == len(images)
    for i, im in enumerate(images):
        info = ds.get_data_info(i)
        assert info['captions'] == [s['raw'] for s in im['sentences']]
        assert info['img_path'].endswith(im['filename'])
        assert info.get('task') == (None if split == 'train' else 'cap')


# ---------------------------------------------------------------- VQA
def test_answer_counts_recover_the_annotators():
    assert answer_counts([0.7, 0.3]) == [7, 3]
    assert answer_counts([0.6, 0.2, 0.2]) == [3, 1, 1]
    assert answer_counts([1.0]) == [1]
    with pytest.raises(ValueError):
        answer_counts([0.5, 0.0])
    with pytest.raises(ValueError):
        answer_counts([1 / 3 + 0.01, 2 / 3 - 0.01])


def test_vqav2_answers_follow_the_annotators():
    ds = build('HolisticVQA', VQAV2, pipeline=TRAIN)
    questions = load(osp.join(H, 'coco', VQAV2['question_file']))['questions']
    annotations = load(osp.join(H, 'coco', VQAV2['ann_file']))['annotations']
    assert len(ds) == len(questions)
    for i, (q, a) in enumerate(zip(questions, annotations)):
        info = ds.get_data_info(i)
        assert info['question'] == q['question'] and 'task' not in info
        given = Counter(x['answer'] for x in a['answers'])
        drawn = Counter(info['captions'])
        assert set(drawn) == set(given)
        assert all(drawn[k] / len(info['captions']) == pytest.approx(given[k] / 10)
                   for k in given)


def test_vqa_training_sequence_has_its_loss_on_the_answer_only():
    ds = build('HolisticVQA', VQAV2, pipeline=TRAIN)
    tok = build_tokenizer(TOKENIZER)
    samples = [ds[i]['data_samples'] for i in range(len(ds))]
    seqs = [s.task_sequences['cap'] for s in samples]
    batch = TaskBatch.from_sequences(seqs, range(len(seqs)), len(seqs), tok.text_tokenizer.pad_id)
    mask = batch.loss_mask(tok.text_tokenizer.pad_id)
    for row, (sample, seq) in enumerate(zip(samples, seqs)):
        info = ds.get_data_info(row)
        assert sample.prompt_text == info['question'] and sample.gt_caption in info['captions']
        prompt = tok.prompt('cap', question=info['question'])
        assert torch.equal(seq.tokens[:len(prompt)], prompt)
        trained = batch.tokens[row][mask[row]]
        answer = tok.text_tokenizer.encode(' ' + sample.gt_caption)
        assert trained.tolist() == answer + [tok.text_tokenizer.eos_id]
        assert int(mask[row].sum()) < len(seq.tokens)


@pytest.mark.parametrize('reader,answer_type', [
    (dict(type='mmpretrain.GQA', data_root=osp.join(H, 'gqa'), data_prefix='images',
          ann_file='testdev_balanced_questions.json'), str),
    (dict(type='mmpretrain.OCRVQA', data_root=osp.join(H, 'ocr-vqa'), data_prefix='images',
          ann_file='dataset.json', split='test'), str),
    (dict(VQAV2, data_prefix='val2014',
          question_file='annotations/v2_OpenEnded_mscoco_val2014_questions.json',
          ann_file='annotations/v2_mscoco_val2014_annotations.json'), list),
], ids=['gqa', 'ocrvqa', 'vqav2'])
def test_vqa_test_samples_carry_mmpretrains_ground_truth(reader, answer_type):
    from mmpretrain.registry import DATASETS as READERS
    raw = READERS.get(reader['type'].split('.')[-1])(
        **{k: v for k, v in reader.items() if k != 'type'})
    ds = build('HolisticVQA', reader, pipeline=TEST, test_mode=True)
    assert len(ds) == len(raw) > 0
    for i in range(len(ds)):
        info, want = ds.get_data_info(i), raw.get_data_info(i)
        assert info['task'] == 'vqa' and info['question'] == want['question']
        assert info['gt_answer'] == want['gt_answer']
        assert isinstance(info['gt_answer'], answer_type)
        assert info.get('gt_answer_weight') == want.get('gt_answer_weight')
    sample = ds[0]['data_samples']
    assert sample.task == 'vqa' and sample.prompt_text == raw.get_data_info(0)['question']
    assert sample.gt_answer == raw.get_data_info(0)['gt_answer']
