"""LocCaDataSample: one image's annotations, task sequences and predictions."""
from typing import Dict, Optional, Tuple

import torch
from mmengine.structures import BaseDataElement, InstanceData
from torch import Tensor


def _instances_field(name: str, doc: str) -> property:
    """A data field that holds an :class:`InstanceData` (stored as ``_<name>``, type-checked)."""
    key = f'_{name}'

    def get(self) -> InstanceData:
        return getattr(self, key)

    def set_(self, value: InstanceData) -> None:
        self.set_field(value, key, dtype=InstanceData)

    def delete(self) -> None:
        delattr(self, key)

    return property(get, set_, delete, doc)


class LocCaDataSample(BaseDataElement):
    """The data interface between the pipeline, the model and the metrics.

    Data fields (all optional):
        gt_caption (str): the image's caption.
        gt_instances (InstanceData): regions; ``bboxes`` [N, 4] xyxy in the
            model's input frame, ``texts`` (list of str), ``scores`` [N].
        task_sequences (dict): task name (``'cap'``, ``'aref'``, ``'gcap'``) ->
            ``TaskSequence`` (tokens, prefix_len, truncated), built by the
            pipeline for training.
        task (str): what :meth:`LocCa.predict` does for this sample, one of
            :data:`~locca_mm.structures.tasks.PREDICT_TASKS` or
            :data:`~locca_mm.structures.tasks.SCORE_TASKS` (else the model's
            ``test_cfg.task``).
        prompt_text (str): the referring expression of a ``'ref'`` prediction.
        prompt_box (Tensor[4]): the box of a ``'gcap'`` prediction, xyxy in
            original-image pixels.
        pred_caption (str): predicted caption (``'cap'``) or region text (``'gcap'``).
        pred_instances (InstanceData): ``bboxes`` [K, 4] xyxy in original-image
            pixels and ``scores`` [K] (``'ref'``).
        candidates (list of str): the texts a ``'class_scores'`` sample scores.
        pred_features (Tensor[D]), pred_class_scores (Tensor[C]), pred_label (int),
            caption_nll (float), caption_tokens (int): the scoring tasks' outputs
            (:meth:`LocCa.score`).

    Metainfo used by the model: ``img_shape`` (h, w) of the resized image,
    ``pad_shape`` when the image was padded, ``ori_shape``, ``scale_factor``
    (w_scale, h_scale) from the original image to ``img_shape``. Boxes move
    between the two frames by :func:`to_input_frame` and :func:`to_original`.
    """

    gt_instances = _instances_field('gt_instances', 'The regions (:class:`InstanceData`).')
    pred_instances = _instances_field('pred_instances',
                                      'The predicted boxes (:class:`InstanceData`).')


def box_frame(metainfo: Dict) -> Tuple[int, int]:
    """(h, w) of the frame boxes are written in: the padded input if padded, else the image.

    Location tokens are relative to what the encoder sees, so a padded image's
    boxes are normalised by the padded size: bin k is then the same patch
    column whatever the aspect ratio.
    """
    shape: Optional[tuple] = metainfo.get('pad_shape') or metainfo.get('img_shape')
    if shape is None:
        raise KeyError('the data sample has neither pad_shape nor img_shape in its metainfo')
    return int(shape[0]), int(shape[1])


def _scale(metainfo: dict, device) -> Tensor:
    """(w_scale, h_scale, w_scale, h_scale) from the original image to the model input."""
    sf = metainfo.get('scale_factor', (1.0, 1.0))
    sf = (float(sf), float(sf)) if isinstance(sf, (int, float)) else tuple(map(float, sf[:2]))
    return torch.tensor([sf[0], sf[1], sf[0], sf[1]], device=device)


def _unflip(boxes: Tensor, metainfo: dict) -> Tensor:
    """Mirror xyxy boxes back if the pipeline flipped the image (``flip``,
    ``flip_direction``: horizontal, vertical or diagonal, as mmcv's ``RandomFlip``
    records them), in the input frame (``img_shape``). Mirroring is its own inverse and
    commutes with the resize, so the same call maps both ways."""
    if not metainfo.get('flip'):
        return boxes
    direction = metainfo.get('flip_direction') or 'horizontal'
    h, w = metainfo.get('img_shape', box_frame(metainfo))[:2]
    boxes = boxes.clone()
    if direction in ('horizontal', 'diagonal'):
        boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    if direction in ('vertical', 'diagonal'):
        boxes[:, [1, 3]] = h - boxes[:, [3, 1]]
    return boxes


def to_original(boxes: Tensor, metainfo: dict) -> Tensor:
    """Boxes [K, 4] of the model's input frame -> original-image pixels (clipped); a flip
    the pipeline made is undone first."""
    boxes = _unflip(boxes, metainfo) / _scale(metainfo, boxes.device)
    h, w = metainfo.get('ori_shape', box_frame(metainfo))[:2]
    limit = boxes.new_tensor([w, h, w, h])
    return torch.minimum(boxes.clamp(min=0), limit)


def to_input_frame(boxes: Tensor, metainfo: dict) -> Tensor:
    """Boxes [K, 4] in original-image pixels -> the model's input frame (flipped as the
    image was)."""
    return _unflip(boxes * _scale(metainfo, boxes.device), metainfo)
