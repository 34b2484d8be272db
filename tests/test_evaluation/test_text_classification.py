"""TextClassificationMetric: exact match of the normalised generated name, cross-checked
against mmpretrain's Accuracy on the class indices the same predictions name."""
import pytest
import torch

from locca_mm.evaluation import TextClassificationMetric, normalize_class_text

CLASSES = ('apple_pie', 'Maine Coon', "jack-o'-lantern", 'ice cream', 'beach')
# (generated text, true class index)
PREDS = [('apple pie', 0), ('Apple_Pie.', 0), ('maine coon', 2), ("jack - o ' - lantern", 2),
         ('ice-cream', 4), ('a beach', 4), ('', 1), ('beach', 4), ('MAINE  COON ', 1),
         ('icecream', 3)]


@pytest.mark.parametrize('text,expected', [
    ('Apple_pie', 'apple pie'), (' apple-pie. ', 'apple pie'),
    ("jack-o'-lantern", 'jack o lantern'),
    ("jack - o ' - lantern", 'jack o lantern'), ('Kite (bird of prey)', 'kite bird of prey'),
    ('ÉCOLE\tmaternelle', 'école maternelle'), ('ﬁsh', 'fish'), ('', '')])
def test_normalisation(text, expected):
    assert normalize_class_text(text) == expected


def _index_of(text: str) -> int:
    names = [normalize_class_text(c) for c in CLASSES]
    t = normalize_class_text(text)
    return names.index(t) if t in names else -1


def test_accuracy_equals_mmpretrain_accuracy_on_the_named_class_indices():
    from mmpretrain.evaluation import Accuracy
    metric = TextClassificationMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process(None, [dict(pred_caption=p, gt_label=torch.tensor([k])) for p, k in PREDS])
    ours = metric.compute_metrics(metric.results)

    reference = Accuracy(topk=(1, ))
    reference.process(None, [dict(pred_label=torch.tensor([_index_of(p)]),
                                  gt_label=torch.tensor([k])) for p, k in PREDS])
    expected = reference.compute_metrics(reference.results)['top1']
    assert ours['accuracy'] == pytest.approx(float(expected))
    assert ours['no_class'] == sum(_index_of(p) < 0 for p, _ in PREDS)
    assert 0 < ours['accuracy'] < 100 and ours['no_class'] > 0


def test_int_labels_classes_argument_and_task_filter():
    metric = TextClassificationMetric(classes=CLASSES)
    metric.process(None, [dict(pred_caption='beach', gt_label=4),
                          dict(pred_caption='beach', gt_label=3),
                          dict(task='vqa', pred_caption='beach', gt_label=0)])  # not scored
    assert len(metric.results) == 2
    assert metric.compute_metrics(metric.results) == dict(accuracy=50.0, no_class=0.0)


def test_classes_that_read_alike_count_for_each():
    metric = TextClassificationMetric(classes=('sun glass', 'sun_glass', 'missile'))
    metric.process(None, [dict(pred_caption='sun glass', gt_label=0),
                          dict(pred_caption='sun glass', gt_label=1)])
    assert metric.compute_metrics(metric.results)['accuracy'] == 100.0


def test_bad_inputs_are_named():
    metric = TextClassificationMetric()
    with pytest.raises(ValueError, match='no pred_caption'):
        metric.process(None, [dict(gt_label=0, source='x.jpg')])
    with pytest.raises(ValueError, match='no gt_label'):
        metric.process(None, [dict(pred_caption='beach')])
    metric.process(None, [dict(pred_caption='beach', gt_label=7)])
    with pytest.raises(ValueError, match='class names'):
        metric.compute_metrics(metric.results)
    metric.dataset_meta = dict(classes=CLASSES)
    with pytest.raises(ValueError, match='not a class index'):
        metric.compute_metrics(metric.results)
