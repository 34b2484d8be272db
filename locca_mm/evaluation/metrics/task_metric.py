"""TaskMetric: a metric that scores the samples of one pretraining task only."""
from typing import List, Optional, Sequence

from mmengine.evaluator import BaseMetric

__all__ = ['TaskMetric']


class TaskMetric(BaseMetric):
    """mmengine's ``BaseMetric`` for the samples of one ``task`` (or with none set).

    One evaluation over a mixed set (pretraining validation: captions and
    referring expressions) thus gives each metric its own samples.

    Args:
        task (str): The task scored, compared with each sample's ``task``.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    def __init__(self, task: str, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.task = task

    def task_samples(self, data_samples: Sequence[dict]) -> List[dict]:
        """The samples of ``data_samples`` whose ``task`` is this metric's (or unset)."""
        return [s for s in data_samples if s.get('task', self.task) == self.task]
