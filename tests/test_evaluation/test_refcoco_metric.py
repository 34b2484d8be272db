"""RefCOCOMetric equals mmpretrain's VisualGroundingMetric on fixed boxes, per split too."""
import pytest
import torch

from locca_mm.evaluation import RefCOCOMetric

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


def test_only_the_metrics_task_is_scored():
    """A mixed evaluation (pretraining validation): each metric keeps its own task."""
    samples = _samples()
    samples[0]['task'] = 'cap'  # skipped
    samples[1]['task'] = 'ref'  # kept, as are samples without a task
    metric = RefCOCOMetric()
    metric.process(None, samples)
    assert len(metric.results) == 4
    assert metric.compute_metrics(metric.results)['Acc@0.5'] == pytest.approx(50.0)


def test_releases_sharing_a_split_name_are_scored_apart():
    """The union evaluation: RefCOCO val and RefCOCO+ val are two keys, each equal to
    mmpretrain's score of its own samples."""
    from mmpretrain.evaluation import VisualGroundingMetric
    splits = ['refcoco/val', 'refcocop/val', 'refcoco/val', 'refcocop/val', 'refcocog/test']
    metric = RefCOCOMetric()
    metric.process(None, [dict(pred_instances=dict(bboxes=p[None], scores=torch.ones(1)),
                               gt_ref_bbox=g, split=s) for p, g, s in zip(PRED, GT, splits)])
    res = metric.compute_metrics(metric.results)
    for split in set(splits):
        ref = VisualGroundingMetric()
        ref.process(None, [dict(pred_bboxes=p, gt_bboxes=g)
                           for p, g, s in zip(PRED, GT, splits) if s == split])
        expected = ref.compute_metrics(ref.results)
        assert res[f'{split}/Acc@0.5'] == pytest.approx(float(expected['acc']) * 100, abs=1e-6)
        assert res[f'{split}/mIoU'] == pytest.approx(float(expected['miou']) * 100, abs=1e-6)
    # IoUs 0.79, 0.14, 1, 0, 1: RefCOCO val 0.79 and 1, RefCOCO+ val 0.14 and 0.
    assert res['refcoco/val/Acc@0.5'] == pytest.approx(100.0)
    assert res['refcocop/val/Acc@0.5'] == pytest.approx(0.0)
    assert 'val/Acc@0.5' not in res
