"""GroundedCaptionDetMetric: texts mapped to categories, then exactly mmdet's CocoMetric."""
import pytest
import torch


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


def test_detect_seq_predictions_score_as_pycocotools_cocoeval_directly(tmp_path):
    """'detect_seq' predictions (texts restricted to the category names, so none unmatched):
    the metric's mAPs are those of pycocotools' COCOeval run on the same detections."""
    import json
    import os.path as osp

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from locca_mm.evaluation import GroundedCaptionDetMetric
    from tests.test_datasets.utils import DATA
    ann = osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json')
    with open(ann) as f:
        inst = json.load(f)
    classes = tuple(c['name'] for c in sorted(inst['categories'], key=lambda c: c['id']))
    rng = np.random.default_rng(0)
    samples, dets = [], []
    for img in inst['images']:
        objs = [a for a in inst['annotations'] if a['image_id'] == img['id'] and not a['iscrowd']]
        boxes, texts = [], []
        for a in objs:  # each object found, jittered, and sometimes named wrongly
            x, y, w, h = np.asarray(a['bbox'], dtype=float) + rng.uniform(-3, 3, 4)
            boxes.append([x, y, x + w, y + h])
            texts.append(classes[(a['category_id'] - 1 + (rng.random() < 0.3)) % 2])
        boxes.append([1., 1., 9., 9.])  # and a spurious one
        texts.append(classes[0])
        scores = rng.uniform(0.05, 1, len(texts))
        samples.append(dict(img_id=img['id'], ori_shape=(img['height'], img['width']),
                            task='detect_seq', pred_instances=dict(
                                bboxes=torch.tensor(boxes, dtype=torch.float32),
                                scores=torch.tensor(scores, dtype=torch.float32), texts=texts)))
        for (x1, y1, x2, y2), t, s in zip(boxes, texts, scores):
            dets.append(dict(image_id=img['id'], category_id=classes.index(t) + 1, score=float(s),
                             bbox=[x1, y1, x2 - x1, y2 - y1]))
    metric = GroundedCaptionDetMetric(ann_file=ann)
    metric.dataset_meta = dict(classes=classes)
    metric.process(None, samples)
    got = metric.compute_metrics(metric.results)
    gt = COCO(ann)
    ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
    ev.params.imgIds = [img['id'] for img in inst['images']]
    ev.params.maxDets = [100, 300, 1000]  # CocoMetric's proposal_nums
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert got['unmatched'] == 0
    for i, key in enumerate(('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')):
        assert got[key] == pytest.approx(round(ev.stats[i], 3), abs=1e-6)
    assert 0 < got['bbox_mAP'] < 1


def test_no_detection_at_all_scores_zero():
    import os.path as osp

    from locca_mm.evaluation import GroundedCaptionDetMetric
    from tests.test_datasets.utils import DATA
    metric = GroundedCaptionDetMetric(
        ann_file=osp.join(DATA, 'coco', 'annotations', 'instances_tiny.json'))
    metric.dataset_meta = dict(classes=('circle', 'square'))
    metric.process(None, [dict(img_id=1, ori_shape=(48, 64), pred_instances=dict(
        bboxes=torch.zeros(1, 4), scores=torch.ones(1), texts=['a cloud']))])
    got = metric.compute_metrics(metric.results)
    assert got['bbox_mAP'] == 0.0 and got['bbox_mAP_50'] == 0.0 and got['unmatched'] == 1
