"""Metrics equal their references on fixed predictions."""
import shutil

import pytest
import torch

from locca_mm.evaluation import CaptionMetric, RefCOCOMetric, caption_scores, python_ptb_tokenize

PRED = torch.tensor([[10., 10., 50., 50.], [0., 0., 20., 20.], [5., 5., 9., 30.],
                     [30., 30., 60., 70.], [1., 1., 2., 2.]])
GT = torch.tensor([[12., 8., 48., 52.], [10., 10., 30., 30.], [5., 5., 9., 30.],
                   [0., 0., 10., 10.], [1., 1., 2., 2.]])
SPLITS = ['val', 'val', 'testA', 'testA', 'testB']


def _samples():
    return [dict(pred_instances=dict(bboxes=p[None], scores=torch.ones(1)), gt_ref_bbox=g,
                 split=s) for p, g, s in zip(PRED, GT, SPLITS)]


def test_refcoco_metric_matches_mmpretrain_visual_grounding():
    from mmpretrain.evaluation import VisualGroundingMetric
    ours = RefCOCOMetric()
    ours.process(None, _samples())
    res = ours.compute_metrics(ours.results)
    ref = VisualGroundingMetric()
    ref.process(None, [dict(pred_bboxes=p, gt_bboxes=g) for p, g in zip(PRED, GT)])
    expected = ref.compute_metrics(ref.results)
    assert res['Acc@0.5'] == pytest.approx(float(expected['acc']) * 100, abs=1e-6)
    assert res['mIoU'] == pytest.approx(float(expected['miou']) * 100, abs=1e-6)
    # IoUs: 0.7934, 0.1429, 1, 0, 1 -> hits 1, 0, 1, 0, 1.
    assert res['Acc@0.5'] == pytest.approx(60.0)
    assert res['val/Acc@0.5'] == pytest.approx(50.0)
    assert res['testA/Acc@0.5'] == pytest.approx(50.0)
    assert res['testB/Acc@0.5'] == pytest.approx(100.0)
    assert res['truncated'] == 0


def test_refcoco_metric_counts_cut_prompts():
    samples = _samples()
    samples[1]['prompt_truncated'] = samples[4]['prompt_truncated'] = True
    metric = RefCOCOMetric()
    metric.process(None, samples)
    assert metric.compute_metrics(metric.results)['truncated'] == 2


def test_refcoco_metric_through_an_mmengine_evaluator():
    from mmengine.evaluator import Evaluator
    from mmengine.structures import InstanceData

    from locca_mm.structures import LocCaDataSample
    samples = []
    for p, g, s in zip(PRED, GT, SPLITS):
        ds = LocCaDataSample(metainfo=dict(split=s))
        ds.pred_instances = InstanceData(bboxes=p[None], scores=torch.ones(1))
        ds.gt_ref_bbox = g
        samples.append(ds)
    evaluator = Evaluator(RefCOCOMetric())
    evaluator.process(samples)
    metrics = evaluator.evaluate(len(samples))
    assert metrics['refcoco/Acc@0.5'] == pytest.approx(60.0)
    assert 'refcoco/testB/mIoU' in metrics


PREDS = {0: 'a red circle left of a blue square.', 1: 'two green triangles',
         2: "the dog's ball isn't red", 3: 'a yellow star'}
REFS = {0: ['A red circle, left of a blue square.', 'a red circle and a blue square'],
        1: ['Two green triangles.', 'green triangles'],
        2: ["the dog's ball is not red.", 'a red ball'],
        3: ['one yellow star', 'a yellow star above nothing']}


@pytest.mark.skipif(shutil.which('java') is None, reason='pycocoevalcap tokenizer needs java')
def test_caption_metric_equals_pycocoevalcap_called_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{'caption': c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{'caption': v}] for k, v in PREDS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)

    metric = CaptionMetric()
    metric.process(None, [dict(pred_caption=PREDS[i], gt_captions=REFS[i]) for i in range(4)])
    ours = metric.compute_metrics(metric.results)
    for i in range(4):
        assert ours[f'BLEU-{i + 1}'] == pytest.approx(bleu[i] * 100, abs=1e-6)
    assert ours['CIDEr'] == pytest.approx(cider * 100, abs=1e-6)


@pytest.mark.skipif(shutil.which('java') is None, reason='compares with the Java tokenizer')
def test_python_tokenizer_agrees_with_the_java_one_on_captions():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    texts = [*PREDS.values(), *[c for v in REFS.values() for c in v],
             'A man riding a wave on top of a surfboard.', "Two dogs' toys, e.g. balls; fun!",
             'It costs 3.50 dollars -- or 1,000 cents...', "They're here; I'm (not) sure."]
    java = PTBTokenizer().tokenize({i: [{'caption': t}] for i, t in enumerate(texts)})
    for i, t in enumerate(texts):
        assert python_ptb_tokenize(t) == java[i][0], t


def test_perfect_captions_score_full_bleu():
    refs = {0: ['a red circle'], 1: ['two blue squares']}
    scores = caption_scores({0: 'a red circle', 1: 'two blue squares'}, refs, use_java=False)
    assert scores['BLEU-1'] == pytest.approx(100.0, abs=1e-4)


def test_text_to_label():
    from locca_mm.evaluation import text_to_label
    classes = ('circle', 'square', 'red square', 'traffic light')
    assert text_to_label('a circle', classes) == 0
    assert text_to_label('The Red square.', classes) == 2  # exact (articles, case ignored)
    assert text_to_label('big red square on the left', classes) == 2  # longest contained name
    assert text_to_label('a traffic light pole', classes) == 3
    assert text_to_label('squares everywhere', classes) is None  # whole words only


def test_grounded_detection_metric_equals_mmdet_coco_metric():
    """Texts mapped to categories, then exactly mmdet's CocoMetric on the labels."""
    import json
    import os.path as osp

    from mmdet.evaluation import CocoMetric

    from locca_mm.evaluation import GroundedCaptionDetMetric
    from tests.test_datasets.utils import DATA
    ann = osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json')
    with open(ann) as f:
        inst = json.load(f)
    classes = ('circle', 'square')
    by_image = {}
    for a in inst['annotations']:
        if not a['iscrowd']:
            x, y, w, h = a['bbox']
            by_image.setdefault(a['image_id'], []).append(([x, y, x + w, y + h],
                                                           a['category_id'] - 1))
    ours, ref = [], []
    for img in inst['images']:
        objs = by_image[img['id']]
        # Perfect boxes named in text, one shifted box, one text that names no class.
        boxes = torch.tensor([b for b, _ in objs] + [[0., 0., 5., 5.]])
        boxes[0, :2] += 3
        texts = [f'a {classes[c]}' for _, c in objs] + ['a cloud']
        scores = torch.linspace(0.9, 0.5, len(texts))
        meta = dict(img_id=img['id'], ori_shape=(img['height'], img['width']))
        ours.append(dict(meta, pred_instances=dict(bboxes=boxes, scores=scores, texts=texts)))
        ref.append(dict(meta, pred_instances=dict(
            bboxes=boxes[:-1], scores=scores[:-1],
            labels=torch.tensor([c for _, c in objs]))))
    metric = GroundedCaptionDetMetric(ann_file=ann)
    metric.dataset_meta = dict(classes=classes)
    metric.process(None, ours)
    got = metric.compute_metrics(metric.results)
    expected_metric = CocoMetric(ann_file=ann, metric='bbox')
    expected_metric.dataset_meta = dict(classes=classes)
    expected_metric.process(None, ref)
    expected = expected_metric.compute_metrics(expected_metric.results)
    assert got['unmatched'] == 4
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert got[key] == pytest.approx(expected[key], abs=1e-6)
    assert 0 < got['bbox_mAP'] < 1
