"""BuildDetectionSequence: every object of a sample in one GCap sequence (detection)."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from locca_mm.registry import TRANSFORMS
from locca_mm.structures import box_frame
from locca_mm.tokenizers.detection import DEFAULT_MAX_BOXES, build_detection_sequence

from ..base import add_stats, invalid
from .sequences import pipeline_tokenizer


@TRANSFORMS.register_module()
class BuildDetectionSequence(BaseTransform):
    """Write the sample's objects as ``GCap: {box} : ␣{text} {box} : ␣{text} ... <eos>``.

    The regions that survived the geometric transforms (``gt_bboxes`` and
    their texts through ``gt_bboxes_labels``, as :class:`LoadRegions` sets
    them) become box + text pairs, boxes quantised in the frame the encoder
    sees (the padded input if padded, else the image), as
    :class:`BuildTaskSequences` does. The pairs come in a random order each
    time the sample is drawn (``shuffle=True``: Pix2Seq's choice, so that no
    order is learnt as a ranking), at most ``max_boxes`` of them; whole
    trailing pairs are then left out to fit the tokenizer's
    ``max_length['gcap']`` (:func:`build_detection_sequence`). The decoder is
    trained on every token after the prefix (boxes and texts) as the
    ``'gcap'`` task.

    Counted in ``data_stats``: ``dropped_regions`` (objects not written:
    beyond ``max_boxes``, cut for length, or smaller than ``min_size`` pixels
    after geometry) and ``truncated`` (the sequence lost pairs to
    ``max_length``).

    Required keys: ``regions``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``img_shape`` / ``pad_shape``. Added: ``task_sequences = {'gcap': seq}`` and
    ``tokenizer_signature`` (see :class:`BuildTaskSequences`).

    Args:
        tokenizer (dict): the ``LocCaTokenizer`` config (or object), the
            model's; None only where the dataset gives it.
        max_boxes (int): most pairs per sequence. Defaults to 25 (the paper's).
        shuffle (bool): a random order of the objects (else their order in
            the annotation). Defaults to True.
        min_size (float): smallest width/height (pixels) of a box written.
            Defaults to 1.
    """

    def __init__(self, tokenizer=None, max_boxes: int = DEFAULT_MAX_BOXES,
                 shuffle: bool = True, min_size: float = 1.0):
        if max_boxes < 1:
            raise ValueError(f'max_boxes must be >= 1, got {max_boxes}')
        self.tokenizer = pipeline_tokenizer(tokenizer, type(self).__name__)
        if 'gcap' not in self.tokenizer.tasks:
            raise ValueError('BuildDetectionSequence needs a tokenizer with a gcap prefix')
        self.max_boxes, self.shuffle, self.min_size = max_boxes, shuffle, min_size

    def transform(self, results: dict) -> Optional[dict]:
        """Add ``task_sequences`` (the gcap detection sequence); see the class docstring."""
        if 'gt_bboxes' not in results:
            raise KeyError('BuildDetectionSequence needs the regions as gt_bboxes: put '
                           'LoadRegions (and the geometric transforms) before it')
        boxes = results['gt_bboxes']
        boxes = boxes.numpy() if hasattr(boxes, 'numpy') else np.asarray(boxes)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        labels = np.asarray(results['gt_bboxes_labels'], dtype=np.int64)
        big = np.flatnonzero(((boxes[:, 2] - boxes[:, 0]) >= self.min_size) &
                             ((boxes[:, 3] - boxes[:, 1]) >= self.min_size))
        order = np.random.permutation(big) if self.shuffle else big
        texts = [results['regions']['texts'][labels[i]] for i in order]
        try:
            built = build_detection_sequence(self.tokenizer, texts,
                                             torch.from_numpy(boxes[order]), box_frame(results),
                                             self.max_boxes)
        except ValueError as e:
            raise invalid(results.get('source', '?'), str(e)) from None
        dropped = len(boxes) - len(built.kept)
        if dropped:
            add_stats(results, dropped_regions=dropped)
        if built.sequence.truncated:
            add_stats(results, truncated=1)
        results['task_sequences'] = {'gcap': built.sequence}
        results['tokenizer_signature'] = self.tokenizer.signature
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_boxes={self.max_boxes}, shuffle={self.shuffle}, '
                f'min_size={self.min_size}, tokenizer={self.tokenizer!r})')
