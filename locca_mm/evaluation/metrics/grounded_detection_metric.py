"""GroundedCaptionDetMetric: GCap detections scored as COCO detection with mmdet's CocoMetric."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmdet.evaluation import CocoMetric

from locca_mm.registry import METRICS

from .category_text import text_to_label


@METRICS.register_module()
class GroundedCaptionDetMetric(CocoMetric):
    """COCO box mAP of grounded captions (the ``'detect'`` and ``'detect_seq'`` prediction
    tasks).

    Each predicted region text is mapped to a category of the dataset
    (:func:`text_to_label`); detections whose text names no category are
    dropped and counted (``<prefix>/unmatched``). A ``'detect_seq'`` decode
    restricted to the category names (``test_cfg.classes``) leaves none
    unmatched. The rest are scored by
    mmdet's ``CocoMetric`` (pycocotools), unchanged: pass its arguments,
    e.g. ``ann_file`` (the ``instances_*.json``) and ``metric='bbox'``.
    Samples need ``img_id`` and ``ori_shape`` in their metainfo.
    """

    default_prefix = 'gcap_det'

    def __init__(self, **kwargs):
        kwargs.setdefault('metric', 'bbox')
        super().__init__(**kwargs)
        self.unmatched = 0

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Map region texts to labels, drop (and count) the unmatched, then CocoMetric's."""
        classes = self.dataset_meta['classes']
        converted = []
        for sample in data_samples:
            pred = sample['pred_instances']
            labels = [text_to_label(t, classes) for t in pred['texts']]
            keep = [i for i, label in enumerate(labels) if label is not None]
            self.unmatched += len(labels) - len(keep)
            idx = torch.as_tensor(keep, dtype=torch.long)
            bboxes = torch.as_tensor(pred['bboxes']).reshape(-1, 4)[idx]
            scores = torch.as_tensor(pred['scores']).reshape(-1)[idx]
            converted.append(dict(sample, pred_instances=dict(
                bboxes=bboxes, scores=scores,
                labels=torch.as_tensor(np.asarray([labels[i] for i in keep], dtype=np.int64)))))
        super().process(data_batch, converted)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """CocoMetric's scores plus ``unmatched`` (reset after each evaluation).

        Without a single detection (every text unmatched, or nothing decoded)
        CocoMetric returns no score; the mAPs are then 0, so that a best
        checkpoint rule and the logs still find them.
        """
        metrics = super().compute_metrics(results)
        if not any(len(r[1]['labels']) for r in results):
            for metric in self.metrics:
                for item in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l'):
                    metrics.setdefault(f'{metric}_{item}', 0.0)
        metrics['unmatched'] = self.unmatched
        self.unmatched = 0
        return metrics
