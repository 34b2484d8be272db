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
