"""SampleRegions: the region each location task trains on."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from locca_mm.registry import TRANSFORMS

from ..base import add_stats


@TRANSFORMS.register_module()
class SampleRegions(BaseTransform):
    """Pick one region for ARef and one for GCap, independently.

    Eligible regions have ``score >= score_thr`` (the paper keeps detections
    with score >= 0.3) and, after the geometric transforms, width and height
    of at least ``min_size`` pixels. Regions that geometry removed (crops) or
    made smaller than ``min_size`` are dropped and counted in ``data_stats``
    (``dropped_regions``). A sample with no eligible region gets no region
    rows: it still trains Cap.

    Required keys: ``regions``, ``gt_bboxes``, ``gt_bboxes_labels``.
    Added: ``sampled_regions`` = {task: dict(text=str, box=[4] xyxy in the
    input frame, index=int)}.

    Args:
        score_thr (float): Lowest eligible score. Defaults to 0.3.
        min_size (float): Smallest eligible width/height in pixels. Defaults to 1.
        tasks (Sequence[str]): Tasks that get a region. Defaults to ('aref', 'gcap').
    """

    def __init__(self, score_thr: float = 0.3, min_size: float = 1.0,
                 tasks: Sequence[str] = ('aref', 'gcap')):
        self.score_thr, self.min_size, self.tasks = score_thr, min_size, tuple(tasks)

    def transform(self, results: dict) -> dict:
        regions = results['regions']
        boxes = results['gt_bboxes'].numpy() if hasattr(results['gt_bboxes'], 'numpy') \
            else np.asarray(results['gt_bboxes'])
        labels = np.asarray(results['gt_bboxes_labels'], dtype=np.int64)
        big = ((boxes[:, 2] - boxes[:, 0]) >= self.min_size) & \
            ((boxes[:, 3] - boxes[:, 1]) >= self.min_size)
        dropped = len(regions['texts']) - int(big.sum())
        if dropped:
            add_stats(results, dropped_regions=dropped)
        scores = np.asarray(regions['scores'], dtype=np.float32)[labels]
        eligible = np.flatnonzero(big & (scores >= self.score_thr))
        sampled = {}
        if len(eligible):
            for task in self.tasks:
                i = int(np.random.choice(eligible))
                sampled[task] = dict(text=regions['texts'][labels[i]], box=boxes[i].copy(),
                                     index=int(labels[i]))
        results['sampled_regions'] = sampled
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(score_thr={self.score_thr}, min_size={self.min_size}, '
                f'tasks={self.tasks})')
