"""RefCOCOMetric: referring-expression comprehension accuracy (Acc@0.5) and mean IoU."""
from collections import defaultdict
from typing import Dict, List, Sequence

import torch
from mmpretrain.evaluation.metrics.visual_grounding_eval import aligned_box_iou

from locca_mm.registry import METRICS

from .task_metric import TaskMetric


@METRICS.register_module()
class RefCOCOMetric(TaskMetric):
    """Acc@``iou_thr`` and mean IoU of one predicted box per referring expression.

    Compares ``pred_instances.bboxes[0]`` with ``gt_ref_bbox`` (both xyxy in
    original-image pixels; IoU as mmpretrain's ``VisualGroundingMetric``
    computes it) overall and per ``split`` (val / testA / testB / test, from
    each sample's metainfo), so one evaluation over several splits reports
    each of them: ``refcoco/val/Acc@0.5``, ``refcoco/val/mIoU``, ... and the
    pooled ``refcoco/Acc@0.5``, ``refcoco/mIoU``. ``refcoco/truncated`` counts
    the expressions whose prompt was cut to the tokenizer's ``max_length``
    (``prompt_truncated``, set by the model), so a cut is never silent.

    An evaluation over several releases (the union fine-tuning's: RefCOCO,
    RefCOCO+ and RefCOCOg) names each split after its release
    (``RefCOCODataset(dataset_name=...)`` gives ``split='refcocop/val'``), so
    the keys are ``refcoco/refcoco/val/Acc@0.5``, ``refcoco/refcocop/val/Acc@0.5``,
    ``refcoco/refcocog/test/Acc@0.5``, ...: RefCOCO val and RefCOCO+ val never
    share a key.

    Args:
        iou_thr (float): IoU counted as a hit. Defaults to 0.5.
        task (str): the samples scored: those whose ``task`` is this (or unset);
            see :class:`CaptionMetric`. Defaults to 'ref'.
        collect_device (str): 'cpu' or 'gpu'. prefix (str): metric name prefix
            (``'aref'`` in the pretraining configs' validation).
    """

    default_prefix = 'refcoco'

    def __init__(self, iou_thr: float = 0.5, task: str = 'ref', collect_device: str = 'cpu',
                 prefix=None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)
        self.iou_thr = iou_thr

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each referring sample's first predicted box, its box, split and cut flag."""
        for sample in self.task_samples(data_samples):
            pred = sample['pred_instances']['bboxes']
            if len(pred) == 0:
                raise ValueError(f'no predicted box for {sample.get("source", "a sample")}')
            self.results.append(dict(
                pred=torch.as_tensor(pred[0], dtype=torch.float32).cpu(),
                gt=torch.as_tensor(sample['gt_ref_bbox'], dtype=torch.float32).view(4).cpu(),
                split=sample.get('split', 'all'),
                truncated=bool(sample.get('prompt_truncated', False))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Acc@``iou_thr``, mIoU (x100) and the cut count, pooled and per split."""
        ious = aligned_box_iou(torch.stack([r['pred'] for r in results]),
                               torch.stack([r['gt'] for r in results]))
        out = dict(self._scores(ious), truncated=sum(r.get('truncated', False) for r in results))
        by_split = defaultdict(list)
        for r, iou in zip(results, ious):
            by_split[r['split']].append(iou)
        if len(by_split) > 1 or 'all' not in by_split:
            for split, values in sorted(by_split.items()):
                out.update(self._scores(torch.stack(values), f'{split}/'))
        return out

    def _scores(self, ious: torch.Tensor, prefix: str = '') -> Dict[str, float]:
        """``{prefix}Acc@<thr>`` and ``{prefix}mIoU`` (x100) of these IoUs."""
        return {f'{prefix}Acc@{self.iou_thr}': float((ious >= self.iou_thr).float().mean()) * 100,
                f'{prefix}mIoU': float(ious.mean()) * 100}
