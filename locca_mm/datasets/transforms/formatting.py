"""PackLocCaInputs: the image tensor and a LocCaDataSample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from locca_mm.registry import TRANSFORMS
from locca_mm.structures import LocCaDataSample


@TRANSFORMS.register_module()
class PackLocCaInputs(BaseTransform):
    """Pack ``img`` as a [3, H, W] uint8 tensor and the rest into a :class:`LocCaDataSample`.

    Data sample fields (when present in ``results``):

    - ``gt_caption`` (the caption trained on), ``gt_captions`` (all captions:
      references for caption metrics);
    - ``gt_instances``: ``bboxes`` [N, 4] (input frame), ``texts``, ``scores``
      of the regions that survived the geometric transforms;
    - ``task_sequences`` (training);
    - ``task``, ``prompt_text`` (a referring expression ``ref_text`` or a
      ``question``), ``prompt_box`` and ``gt_ref_bbox`` (evaluation; boxes in
      original-image pixels); ``candidates``, the texts a ``'class_scores'``
      sample scores (zero-shot classification: the class names);
    - the holistic transfers' ground truth, under mmpretrain's names so that
      its metrics read it: ``gt_answer``, ``gt_answer_weight`` (VQA) and
      ``gt_label`` (classification).

    Args:
        meta_keys (Sequence[str]): keys copied into the metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = (
            'img_path', 'source', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
            'flip', 'flip_direction', 'data_stats', 'sample_idx', 'split', 'img_id',
            'tokenizer_signature')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[:, :, None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = LocCaDataSample()
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        captions = results.get('captions') or []
        if captions:
            sample.gt_captions = list(captions)
            sample.gt_caption = results.get('gt_caption', captions[0])
        if 'gt_bboxes' in results:
            labels = np.asarray(results['gt_bboxes_labels'], dtype=np.int64)
            regions = results['regions']
            instances = InstanceData()
            boxes = results['gt_bboxes']
            instances.bboxes = boxes.tensor.float() if hasattr(boxes, 'tensor') \
                else torch.as_tensor(np.asarray(boxes), dtype=torch.float32)
            instances.texts = [regions['texts'][i] for i in labels]
            instances.scores = torch.as_tensor(
                np.asarray(regions['scores'], dtype=np.float32)[labels])
            sample.gt_instances = instances
        if 'task_sequences' in results:
            sample.task_sequences = results['task_sequences']
        if results.get('task'):
            sample.task = results['task']
        if results.get('ref_text') or results.get('question'):
            sample.prompt_text = results.get('ref_text') or results['question']
        for key in ('gt_answer', 'gt_answer_weight', 'gt_label'):
            if results.get(key) is not None:
                sample.set_field(results[key], key)
        if results.get('candidates'):
            sample.candidates = list(results['candidates'])
        if results.get('ref_bbox') is not None:
            sample.gt_ref_bbox = torch.as_tensor(results['ref_bbox'], dtype=torch.float32)
        if results.get('prompt_box') is not None:
            sample.prompt_box = torch.as_tensor(results['prompt_box'], dtype=torch.float32)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
