"""Evaluation while pretraining (big_vision's CapPa ``evals``): a few-shot linear probe,
zero-shot classification by caption scoring, and the perplexity of held-out captions.

Each reads what a scoring task (:data:`~locca_mm.structures.tasks.SCORE_TASKS`) wrote on the
samples, so one validation pass over a ``ConcatDataset`` serves them beside the caption and
ARef metrics.
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from locca_mm.registry import METRICS

from .task_metric import TaskMetric
from .text_classification import _label_of

__all__ = ['FewShotProbeMetric', 'ZeroShotMetric', 'CaptionPerplexityMetric', 'ridge_probe']

#: The constant bias feature of the probe: large, so that the bias is almost unregularised.
BIAS_CONSTANT = 100.0


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def ridge_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                num_classes: int, l2_reg: float) -> np.ndarray:
    """Class predictions [M] of a closed-form ridge regression (big_vision's ``fewshot_lsr``).

    The features are whitened with the training set's mean and standard
    deviation (+1e-5), a constant feature :data:`BIAS_CONSTANT` is appended
    (the bias), the targets are the one-hot labels in {-1, 1}; the weights
    solve ``(X^T X + l2_reg I) W = X^T Y`` (in the dual form ``W = X^T (X X^T +
    l2_reg I)^{-1} Y`` when there are fewer images than features); a test image's
    class is the argmax of ``x W``.

    Args:
        x_train: [N, D] features; y_train: [N] class indices.
        x_test: [M, D] features.
        num_classes (int): C, the number of classes.
        l2_reg (float): the ridge penalty.
    """
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    mean = x_train.mean(0, keepdims=True)
    std = x_train.std(0, keepdims=True) + 1e-5

    def design(x):
        x = (x - mean) / std
        return np.pad(x, ((0, 0), (0, 1)), constant_values=BIAS_CONSTANT)

    x = design(x_train)
    y = 2.0 * np.eye(num_classes)[np.asarray(y_train, dtype=np.int64)] - 1.0
    n, d = x.shape
    if n >= d:
        w = np.linalg.solve(x.T @ x + l2_reg * np.eye(d), x.T @ y)
    else:
        w = x.T @ np.linalg.solve(x @ x.T + l2_reg * np.eye(n), y)
    return (design(x_test) @ w).argmax(1)


@METRICS.register_module()
class FewShotProbeMetric(TaskMetric):
    """Few-shot linear-probe accuracy of the encoder's pooled features (``'features'`` samples).

    The samples of ``support_split`` (their ``split``) are the labelled
    images: for each ``k`` of ``shots`` the first ``k`` of each class (in
    ``sample_idx`` order; fewer if the split holds fewer) train a closed-form
    ridge regression (:func:`ridge_probe`, big_vision's ``fewshot_lsr``); every
    other sample is held out and scored. Reported: ``{k}shot``, the accuracy
    in percent (``fewshot/10shot``).

    Data samples need ``pred_features`` (the model's ``'features'`` task),
    ``gt_label`` and ``split``.

    Args:
        shots (Sequence[int]): images per class of each probe. Defaults to (1, 5, 10).
        l2_reg (float): the ridge penalty. Defaults to 2**10 (big_vision's).
        support_split (str): the split of the labelled images. Defaults to 'cls_train'.
        num_classes (int, optional): C; None: ``dataset_meta['classes']`` when the
            validation set's first dataset names them, else the largest label + 1.
        task (str): the samples read. Defaults to 'features'.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    default_prefix = 'fewshot'

    def __init__(self, shots: Sequence[int] = (1, 5, 10), l2_reg: float = 2.0**10,
                 support_split: str = 'cls_train', num_classes: Optional[int] = None,
                 task: str = 'features', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)
        if not shots or min(shots) < 1:
            raise ValueError(f'shots must be positive numbers of images, got {shots}')
        self.shots, self.l2_reg = tuple(int(k) for k in shots), float(l2_reg)
        self.support_split, self.num_classes = support_split, num_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's features, class, split and index."""
        for sample in self.task_samples(data_samples):
            if sample.get('pred_features') is None:
                raise ValueError(f'no pred_features for {sample.get("source", "a sample")}: '
                                 "the model's 'features' task writes them")
            self.results.append(dict(
                features=_numpy(sample['pred_features']), label=_label_of(sample),
                support=sample.get('split') == self.support_split,
                idx=sample.get('sample_idx', len(self.results))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """``{k}shot`` accuracy (percent) for each ``k`` of ``shots``."""
        support = sorted((r for r in results if r['support']), key=lambda r: r['idx'])
        test = [r for r in results if not r['support']]
        if not support or not test:
            raise ValueError(f'FewShotProbeMetric needs labelled images (split '
                             f'{self.support_split!r}) and held-out ones: got {len(support)} '
                             f'and {len(test)}')
        num_classes = self.num_classes or len((self.dataset_meta or {}).get('classes') or ()) \
            or 1 + max(r['label'] for r in results)
        x_test = np.stack([r['features'] for r in test])
        y_test = np.array([r['label'] for r in test])
        out = {}
        for k in self.shots:
            taken: Dict[int, int] = {}
            chosen = []
            for r in support:
                if taken.get(r['label'], 0) < k:
                    taken[r['label']] = taken.get(r['label'], 0) + 1
                    chosen.append(r)
            pred = ridge_probe(np.stack([r['features'] for r in chosen]),
                               np.array([r['label'] for r in chosen]), x_test, num_classes,
                               self.l2_reg)
            out[f'{k}shot'] = 100.0 * float((pred == y_test).mean())
        return out


@METRICS.register_module()
class ZeroShotMetric(TaskMetric):
    """Zero-shot accuracy by caption scoring (``'class_scores'`` samples).

    The model scored every class name (the sample's ``candidates``) as the
    image's caption (``pred_class_scores``): the summed log-likelihood of its
    Cap tokens (big_vision's CapPa ``scoring_classifier``), or, for a model with
    a text tower (CLIP, SigLIP), the towers' pair logit; the prediction is the
    highest-scoring class. Reported: ``accuracy`` in percent
    (``zeroshot/accuracy``).

    Args:
        task (str): the samples read. Defaults to 'class_scores'.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    default_prefix = 'zeroshot'

    def __init__(self, task: str = 'class_scores', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's most likely class and true class."""
        for sample in self.task_samples(data_samples):
            scores = sample.get('pred_class_scores')
            if scores is None:
                raise ValueError(f'no pred_class_scores for {sample.get("source", "a sample")}'
                                 ": the model's 'class_scores' task writes them")
            self.results.append(dict(pred=int(_numpy(scores).argmax()),
                                     label=_label_of(sample)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """``accuracy`` (percent) of the kept predictions."""
        correct = sum(r['pred'] == r['label'] for r in results)
        return dict(accuracy=100.0 * correct / max(len(results), 1))


@METRICS.register_module()
class CaptionPerplexityMetric(TaskMetric):
    """Perplexity of held-out captions (``'caption_nll'`` samples): exp of the token-mean
    cross-entropy of every reference caption under the decoder, teacher-forced.

    The mean is over all scored tokens of all samples (each caption's tokens
    and eos, after the Cap prefix: what training's ``loss_cap`` averages), as
    big_vision's CapPa ``perplexity`` evaluator. Reported: ``perplexity`` and
    ``nll`` (the token-mean cross-entropy, nats): ``caption/perplexity``.

    Args:
        task (str): the samples read. Defaults to 'caption_nll'.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    default_prefix = 'caption'

    def __init__(self, task: str = 'caption_nll', collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's summed negative log-likelihood and token count."""
        for sample in self.task_samples(data_samples):
            if sample.get('caption_nll') is None:
                raise ValueError(f'no caption_nll for {sample.get("source", "a sample")}: '
                                 "the model's 'caption_nll' task writes it")
            self.results.append(dict(nll=float(sample['caption_nll']),
                                     tokens=int(sample['caption_tokens'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """``perplexity`` and ``nll`` over every kept token."""
        tokens = sum(r['tokens'] for r in results)
        nll = sum(r['nll'] for r in results) / max(tokens, 1)
        return dict(perplexity=math.exp(nll), nll=nll)
