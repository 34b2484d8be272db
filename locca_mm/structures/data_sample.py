"""LocCaDataSample: one image's annotations, task sequences and predictions."""
from typing import Dict, Optional, Tuple

from mmengine.structures import BaseDataElement, InstanceData


class LocCaDataSample(BaseDataElement):
    """The data interface between the pipeline, the model and the metrics.

    Data fields (all optional):
        gt_caption (str): the image's caption.
        gt_instances (InstanceData): regions; ``bboxes`` [N, 4] xyxy in the
            model's input frame, ``texts`` (list of str), ``scores`` [N].
        task_sequences (dict): task name (``'cap'``, ``'aref'``, ``'gcap'``) ->
            ``TaskSequence`` (tokens, prefix_len, truncated), built by the
            pipeline for training.
        task (str): what :meth:`LocCa.predict` does for this sample: ``'cap'``,
            ``'ref'`` or ``'gcap'`` (else the model's ``test_cfg.task``).
        prompt_text (str): the referring expression of a ``'ref'`` prediction.
        prompt_box (Tensor[4]): the box of a ``'gcap'`` prediction, xyxy in
            original-image pixels.
        pred_caption (str): predicted caption (``'cap'``) or region text (``'gcap'``).
        pred_instances (InstanceData): ``bboxes`` [K, 4] xyxy in original-image
            pixels and ``scores`` [K] (``'ref'``).

    Metainfo used by the model: ``img_shape`` (h, w) of the resized image,
    ``pad_shape`` when the image was padded, ``ori_shape``, ``scale_factor``
    (w_scale, h_scale) from the original image to ``img_shape``.
    """

    @property
    def gt_instances(self) -> InstanceData:
        return self._gt_instances

    @gt_instances.setter
    def gt_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_gt_instances', dtype=InstanceData)

    @gt_instances.deleter
    def gt_instances(self) -> None:
        del self._gt_instances

    @property
    def pred_instances(self) -> InstanceData:
        return self._pred_instances

    @pred_instances.setter
    def pred_instances(self, value: InstanceData) -> None:
        self.set_field(value, '_pred_instances', dtype=InstanceData)

    @pred_instances.deleter
    def pred_instances(self) -> None:
        del self._pred_instances


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
