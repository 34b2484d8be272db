"""LocCaDataPreprocessor: normalise and stack images, pad each task's token rows."""
from typing import Dict, List, Optional, Sequence

from mmengine.model import ImgDataPreprocessor

from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch
from locca_mm.structures.tasks import BOX_TASKS
from locca_mm.tokenizers.signature import check_signature

from ..heads.static_rows import bucketed


@MODELS.register_module()
class LocCaDataPreprocessor(ImgDataPreprocessor):
    """Image batching (mmengine's ``ImgDataPreprocessor``) plus per-task token padding.

    The pipeline stores each sample's task sequences in
    ``data_sample.task_sequences`` (task -> ``TaskSequence``). Here the rows of
    each task are right-padded to that task's batch maximum — short region
    rows are not padded to the caption length — and returned as
    ``task_batches = {task: TaskBatch}`` next to ``inputs`` and ``data_samples``
    (the arguments of :meth:`~locca_mm.models.LocCa.forward`).
    The batch's padded input shape is written into each sample's metainfo
    (``batch_input_shape``), as mmdet's preprocessor does.

    Args:
        mean, std (Sequence[float]): per-channel normalisation. LocCa scales
            pixels to [-1, 1]: mean = std = 127.5.
        pad_id (int): token padding id (set from the tokenizer by the model).
        tasks (Sequence[str], optional): tasks the model trains (set by the
            model); rows of other tasks in the samples are ignored.
        bgr_to_rgb (bool): images are loaded BGR (mmcv): convert. Defaults to True.
        static_shapes (bool): pad each task's rows to a multiple of ``shape_bucket``
            (at most its ``max_lengths`` entry) and give every image a row of each
            location task (an empty one, nothing trained, where it has no region),
            so that batches of one size take a few shapes (``torch.compile``; set
            by the model from its head's ``static_shapes``). Defaults to False:
            rows padded to the batch's longest.
        max_lengths (dict, optional): task -> longest row, with ``static_shapes``
            (set by the model from the tokenizer).
        shape_bucket (int): see ``static_shapes`` (set by the model from its head's).
        tokenizer_signature (str, optional): the model's tokenizer's signature (set by
            the model): samples stamped by another tokenizer stop here, before the
            model's step (which may be compiled).
        **kwargs: other :class:`mmengine.model.ImgDataPreprocessor` arguments.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = (127.5, 127.5, 127.5),
                 std: Optional[Sequence[float]] = (127.5, 127.5, 127.5),
                 pad_id: int = 0,
                 tasks: Optional[Sequence[str]] = None,
                 bgr_to_rgb: bool = True,
                 static_shapes: bool = False,
                 max_lengths: Optional[Dict[str, int]] = None,
                 shape_bucket: int = 16,
                 tokenizer_signature: Optional[str] = None,
                 **kwargs):
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, **kwargs)
        if static_shapes and not max_lengths:
            raise ValueError('static_shapes needs max_lengths (task -> row length)')
        self.pad_id = pad_id
        self.static_shapes = static_shapes
        self.max_lengths, self.shape_bucket = dict(max_lengths or {}), shape_bucket
        self.tokenizer_signature = tokenizer_signature
        self.tasks = None if tasks is None else set(tasks)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        samples = data.get('data_samples')
        task_batches = None
        if samples:
            if self.tokenizer_signature is not None:
                check_signature(samples, self.tokenizer_signature)
            shape = tuple(data['inputs'].shape[-2:])
            for ds in samples:
                ds.set_metainfo(dict(batch_input_shape=shape))
            task_batches = self.batch_text(samples, device=data['inputs'].device)
        return dict(inputs=data['inputs'], data_samples=samples, task_batches=task_batches)

    def batch_text(self, samples: List, device=None) -> Optional[Dict[str, TaskBatch]]:
        """task -> TaskBatch over the samples that have that task (None if none has any)."""
        per_task: Dict[str, tuple] = {}
        for i, ds in enumerate(samples):
            for task, seq in (ds.get('task_sequences') or {}).items():
                if self.tasks is not None and task not in self.tasks:
                    continue
                per_task.setdefault(task, ([], []))
                per_task[task][0].append(seq)
                per_task[task][1].append(i)
        if not per_task:
            return None
        batches = {task: TaskBatch.from_sequences(seqs, rows, len(samples), self.pad_id, device)
                   for task, (seqs, rows) in per_task.items()}
        if self.static_shapes:
            for task, batch in batches.items():
                length = bucketed(batch.tokens.shape[1], self.shape_bucket,
                                  self.max_lengths[task])
                batch = batch.pad_to(length, self.pad_id)
                if task in BOX_TASKS:
                    batch = batch.one_row_per_image(len(samples), self.pad_id)
                batches[task] = batch
        return batches
