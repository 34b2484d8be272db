"""mmpretrain's VQAAcc and GQAAcc, used as they are in the holistic configs, score our packed
samples exactly as they score mmpretrain's own data infos, and as computed by hand."""
import copy
import json
import os.path as osp

import pytest
from mmengine.evaluator import Evaluator

from locca_mm.registry import DATASETS
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA

register_all_modules()
H = osp.join(DATA, 'holistic')
TEST = [dict(type='LoadImage'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='PackLocCaInputs')]
VQAV2_VAL = dict(type='mmpretrain.COCOVQA', data_root=osp.join(H, 'coco'), data_prefix='val2014',
                 question_file='annotations/v2_OpenEnded_mscoco_val2014_questions.json',
                 ann_file='annotations/v2_mscoco_val2014_annotations.json')
GQA = dict(type='mmpretrain.GQA', data_root=osp.join(H, 'gqa'), data_prefix='images',
           ann_file='testdev_balanced_questions.json')
OCR = dict(type='mmpretrain.OCRVQA', data_root=osp.join(H, 'ocr-vqa'), data_prefix='images',
           ann_file='dataset.json', split='train')


def _ours(reader, metric, preds):
    """The metric through mmengine's Evaluator on our packed samples (as a runner calls it)."""
    ds = DATASETS.build(dict(type='HolisticVQA', reader=reader, pipeline=TEST, test_mode=True))
    samples = []
    for i, pred in enumerate(preds):
        sample = ds[i]['data_samples']
        sample.pred_answer = pred
        samples.append(sample)
    evaluator = Evaluator(dict(type=metric))
    evaluator.process(data_samples=samples)
    return evaluator.evaluate(len(samples))


def _direct(reader, metric, preds):
    """The same metric fed mmpretrain's own data infos."""
    from mmpretrain.registry import DATASETS as READERS
    from mmpretrain.registry import METRICS
    raw = READERS.get(reader['type'].split('.')[-1])(
        **{k: v for k, v in reader.items() if k != 'type'})
    m = METRICS.get(metric.split('.')[-1])()
    m.process(None, [dict(copy.deepcopy(raw.get_data_info(i)), pred_answer=p)
                     for i, p in enumerate(preds)])
    return m.compute_metrics(m.results)


def test_vqav2_accuracy_equals_direct_and_by_hand():
    preds = ['Red.', 'yes']
    ours = _ours(VQAV2_VAL, 'mmpretrain.VQAAcc', preds)
    direct = _direct(VQAV2_VAL, 'mmpretrain.VQAAcc', preds)
    with open(osp.join(H, 'coco', VQAV2_VAL['ann_file'])) as f:
        annotations = json.load(f)['annotations']
    by_hand = [min(sum(a['answer'] == p.lower().strip('.') for a in ann['answers']) / 3, 1)
               for p, ann in zip(preds, annotations)]
    assert ours['VQA/acc'] == pytest.approx(direct['acc'])
    assert ours['VQA/acc'] == pytest.approx(100 * sum(by_hand) / len(by_hand))
    assert 0 < ours['VQA/acc'] < 100


def test_gqa_accuracy_equals_direct_and_by_hand():
    with open(osp.join(H, 'gqa', GQA['ann_file'])) as f:
        records = json.load(f)
    preds = [records[0]['answer'].upper(), 'maybe']
    ours = _ours(GQA, 'mmpretrain.GQAAcc', preds)
    assert ours['GQA/acc'] == pytest.approx(_direct(GQA, 'mmpretrain.GQAAcc', preds)['acc'])
    assert ours['GQA/acc'] == pytest.approx(
        sum(p.lower() == r['answer'] for p, r in zip(preds, records)) / len(preds))
    assert ours['GQA/acc'] == 0.5  # GQAAcc reports a fraction, VQAAcc a percentage


def test_ocrvqa_accuracy_is_exact_match_after_normalisation():
    from mmpretrain.datasets import OCRVQA
    raw = OCRVQA(**{k: v for k, v in OCR.items() if k != 'type'})
    answers = [raw.get_data_info(i)['gt_answer'] for i in range(len(raw))]
    preds = [a.lower() if i % 2 else 'wrong answer' for i, a in enumerate(answers)]
    ours = _ours(OCR, 'mmpretrain.VQAAcc', preds)
    assert ours['VQA/acc'] == pytest.approx(_direct(OCR, 'mmpretrain.VQAAcc', preds)['acc'])
    assert ours['VQA/acc'] == pytest.approx(100 * (len(preds) // 2) / len(preds))
