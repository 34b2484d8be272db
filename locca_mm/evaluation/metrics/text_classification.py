"""TextClassificationMetric: classification by a generated class name (exact match)."""
import logging
import re
import unicodedata
from typing import Dict, List, Optional, Sequence

from mmengine.logging import print_log

from locca_mm.registry import METRICS

from .task_metric import TaskMetric

__all__ = ['TextClassificationMetric', 'normalize_class_text']

_NOT_WORD = re.compile(r'[^\w\s]|_')


def normalize_class_text(text: str) -> str:
    """The form in which a generated class name and a class name are compared.

    Unicode NFKC, lower-case, every punctuation mark and ``_`` replaced by a
    space, whitespace collapsed and stripped: ``'Apple_pie'``, ``'apple pie.'``
    and ``' apple-pie '`` all become ``'apple pie'``. Replacing punctuation by a
    space (not deleting it) makes the result independent of how a tokenizer
    spaces punctuation when it decodes (``"jack-o'-lantern"`` and
    ``"jack - o ' - lantern"`` are both ``'jack o lantern'``).
    """
    text = unicodedata.normalize('NFKC', str(text)).lower()
    return ' '.join(_NOT_WORD.sub(' ', text).split())


def _label_of(sample: dict) -> int:
    label = sample.get('gt_label')
    if label is None:
        raise ValueError(f'no gt_label for {sample.get("source", "a sample")}')
    if hasattr(label, 'reshape'):  # a tensor or an array of one label (mmpretrain's form)
        size = label.numel() if hasattr(label, 'numel') else label.size
        if size != 1:
            raise ValueError(f'gt_label must be one class index, got {label!r}')
        label = label.reshape(-1)[0]
    return int(label)


@METRICS.register_module()
class TextClassificationMetric(TaskMetric):
    """Top-1 accuracy of classification as text generation.

    The model generates the class name (``pred_caption``, a ``'cap'``
    prediction); it is right when its normalised form
    (:func:`normalize_class_text`) equals that of the true class's name,
    ``dataset_meta['classes'][gt_label]``. Reported: ``accuracy`` (percent)
    and ``no_class``, the number of predictions that name no class at all
    (their normalised form is no class's). Classes whose names normalise
    alike cannot be told apart by text: a prediction of that name counts as
    right for each of them (a warning lists them).

    Data samples need ``pred_caption`` and ``gt_label`` (an int, or a
    one-element tensor as mmpretrain writes it); the dataset's metainfo needs
    ``classes`` (the runner sets ``dataset_meta``; or pass ``classes``).

    Args:
        classes (Sequence[str], optional): the class names, for use without a
            runner; None reads ``dataset_meta['classes']``.
        task (str): the samples scored (see :class:`TaskMetric`). Defaults to 'cap'.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    default_prefix = 'cls'

    def __init__(self, classes: Optional[Sequence[str]] = None, task: str = 'cap',
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)
        self.classes = None if classes is None else tuple(classes)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's prediction and class index."""
        for sample in self.task_samples(data_samples):
            pred = sample.get('pred_caption')
            if pred is None:
                raise ValueError(f'no pred_caption for {sample.get("source", "a sample")}')
            self.results.append(dict(pred=str(pred), label=_label_of(sample)))

    def _class_names(self) -> Sequence[str]:
        classes = self.classes
        if classes is None:
            classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError("TextClassificationMetric needs the class names: the dataset's "
                             "metainfo 'classes' (dataset_meta) or classes=[...]")
        return classes

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """``accuracy`` (percent) and ``no_class`` (count) of the kept predictions."""
        names = [normalize_class_text(c) for c in self._class_names()]
        known = set(names)
        if len(known) < len(names):
            seen, dup = set(), set()
            for n in names:
                (dup if n in seen else seen).add(n)
            print_log(f'TextClassificationMetric: class names that read alike are one class '
                      f'to text: {sorted(dup)}', logger='current', level=logging.WARNING)
        correct = no_class = 0
        for r in results:
            if not 0 <= r['label'] < len(names):
                raise ValueError(f'gt_label {r["label"]} is not a class index (there are '
                                 f'{len(names)} classes)')
            pred = normalize_class_text(r['pred'])
            correct += pred == names[r['label']]
            no_class += pred not in known
        total = max(len(results), 1)
        return dict(accuracy=100.0 * correct / total, no_class=float(no_class))
