"""Open-vocabulary detectors for pseudo-labelling: boxes for free-text queries.

- :class:`Detections` is one image's boxes, scores and query indices.
- :class:`OpenVocabDetector` is what a detector offers; :class:`OwlViTDetector`
  (HuggingFace OWL-ViT / OWLv2, the paper's) and :class:`MMDetGroundingDetector`
  (an mmdet GroundingDINO/GLIP config) implement it.

:class:`~locca_mm.labeling.pseudo_labeler.PseudoLabeler` turns their detections into regions.
"""
import abc
import os.path as osp
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ['Detections', 'OpenVocabDetector', 'OwlViTDetector', 'MMDetGroundingDetector']


class Detections(NamedTuple):
    """One image's detections.

    Attributes:
        boxes (np.ndarray): ``[K, 4]`` float32, xyxy in original-image pixels.
        scores (np.ndarray): ``[K]`` float32 in [0, 1].
        labels (np.ndarray): ``[K]`` int64, index into that image's queries.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> 'Detections':
        """No detections."""
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class OpenVocabDetector(abc.ABC):
    """A detector that finds boxes for free-text queries, a different list per image.

    ``input_size``: the longer image side the model itself works at (None if
    unknown); an image larger than that may be shrunk to it before
    :meth:`detect` (in a data worker) without changing what the model sees.
    """

    input_size: Optional[int] = None

    @abc.abstractmethod
    def detect(self, images: List[np.ndarray], queries: List[List[str]]) -> List[Detections]:
        """Detect every image's queries in it.

        Args:
            images (list[np.ndarray]): ``[H, W, 3]`` RGB uint8 images.
            queries (list[list[str]]): The text queries of each image.

        Returns:
            list[Detections]: One per image, boxes in that image's pixels, not
            thresholded (the caller chooses the score threshold).
        """


def _start_results(images: List[np.ndarray],
                   queries: List[List[str]]) -> Tuple[List[Detections], List[int]]:
    """Empty detections for every image, and the indices of images with queries to run."""
    if len(images) != len(queries):
        raise ValueError(f'{len(images)} images but {len(queries)} query lists')
    # An image without queries finds nothing; the model does not see it.
    return [Detections.empty() for _ in images], [i for i, q in enumerate(queries) if q]


def _import_transformers():
    """The ``transformers`` module, or an ImportError that says what to install."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            "OwlViTDetector needs HuggingFace transformers: pip install 'transformers>=4.35,<4.50'"
        ) from e
    return transformers


class OwlViTDetector(OpenVocabDetector):
    """OWL-ViT or OWLv2 (HuggingFace transformers), the paper's pseudo-labeller.

    Args:
        model (str): A local directory or hub name of a checkpoint saved with
            ``save_pretrained``; its config's ``model_type`` (``owlvit`` or
            ``owlv2``) picks the model and processor classes.
        device (str): Torch device to run on.
        processor (str | ProcessorMixin, optional): A processor, or where to
            load it from. Defaults to ``model``.

    Every predicted box (one per image patch) is returned with its best query,
    scored by the sigmoid of the query logit. The model sees several images at
    once; their query lists are padded to the longest and padded queries can
    never be a box's best query.
    """

    _CLASSES = {
        'owlvit': ('OwlViTProcessor', 'OwlViTForObjectDetection'),
        'owlv2': ('Owlv2Processor', 'Owlv2ForObjectDetection'),
    }

    def __init__(self, model: str, device: str = 'cpu', processor: Optional[Any] = None):
        transformers = _import_transformers()
        if osp.isdir(model) and not osp.isfile(osp.join(model, 'config.json')):
            raise ValueError(f'{model} has no config.json: not a save_pretrained checkpoint')
        model_type = transformers.AutoConfig.from_pretrained(model).model_type
        if model_type not in self._CLASSES:
            raise ValueError(f'{model}: model_type {model_type!r} is not OWL-ViT; expected one '
                             f'of {sorted(self._CLASSES)}')
        processor_cls, model_cls = (getattr(transformers, name)
                                    for name in self._CLASSES[model_type])
        if processor is None or isinstance(processor, str):
            processor = processor_cls.from_pretrained(processor or model)
        self.processor = processor
        self.model = model_cls.from_pretrained(model).to(device).eval()
        self.device = torch.device(device)
        # OWLv2 pads every image to a square at the bottom/right before resizing,
        # so its boxes are fractions of that square, not of the image.
        self.pads_to_square = model_type == 'owlv2' and getattr(
            processor.image_processor, 'do_pad', True)
        size = getattr(processor.image_processor, 'size', None)
        if isinstance(size, dict):
            size = max((v for v in size.values() if isinstance(v, int)), default=None)
        self.input_size = size if isinstance(size, int) else None
        # Longer queries are cut: the text tower has this many positions.
        self.max_text_len = self.model.config.text_config.max_position_embeddings

    @torch.inference_mode()
    def detect(self, images: List[np.ndarray], queries: List[List[str]]) -> List[Detections]:
        """See :meth:`OpenVocabDetector.detect`."""
        results, todo = _start_results(images, queries)
        if not todo:
            return results
        num_queries = max(len(queries[i]) for i in todo)
        # The model takes [B * Q] texts; pad each image's list to Q.
        texts = [t for i in todo
                 for t in list(queries[i]) + [' '] * (num_queries - len(queries[i]))]
        tokens = self.processor.tokenizer(
            texts, padding='max_length', truncation=True, max_length=self.max_text_len,
            return_tensors='pt')
        pixels = self.processor.image_processor(
            images=[images[i] for i in todo], return_tensors='pt')['pixel_values']
        outputs = self.model(
            input_ids=tokens['input_ids'].to(self.device),
            attention_mask=tokens['attention_mask'].to(self.device),
            pixel_values=pixels.to(self.device))
        logits = outputs.logits.float()  # [B, P, Q]
        valid = torch.tensor([[q < len(queries[i]) for q in range(num_queries)] for i in todo],
                             device=logits.device)
        logits = logits.masked_fill(~valid[:, None, :], float('-inf'))
        best_logit, labels = logits.max(dim=-1)  # [B, P]
        scores = best_logit.sigmoid()
        cx, cy, w, h = outputs.pred_boxes.float().unbind(-1)  # [B, P] each, fractions
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
        for row, i in enumerate(todo):
            height, width = images[i].shape[:2]
            if self.pads_to_square:
                height = width = max(height, width)
            scale = boxes.new_tensor([width, height, width, height])
            results[i] = Detections(
                (boxes[row] * scale).cpu().numpy().astype(np.float32),
                scores[row].cpu().numpy().astype(np.float32),
                labels[row].cpu().numpy().astype(np.int64))
        return results


class MMDetGroundingDetector(OpenVocabDetector):
    """A grounding detector of mmdet (GroundingDINO, GLIP) through ``DetInferencer``.

    Args:
        config (str): mmdet config file.
        checkpoint (str): Its weights.
        device (str): Torch device to run on.

    Each image's queries become one prompt ``"q1 . q2 . q3"`` with
    ``custom_entities=True``, so mmdet splits it back into the same entities
    and a predicted label is the index of its query.
    """

    def __init__(self, config: str, checkpoint: str, device: str = 'cpu'):
        from mmdet.apis import DetInferencer  # mmdet's models load only for this detector

        self.inferencer = DetInferencer(
            model=config, weights=checkpoint, device=device, show_progress=False)
        # A closed-set detector would ignore the prompt and return its own class ids.
        if not hasattr(self.inferencer.model, 'language_model'):
            raise ValueError(f'{config} is not a grounding detector (GroundingDINO, GLIP): '
                             'it takes no text prompts')

    @staticmethod
    def _prompt(queries: Sequence[str]) -> str:
        """``' . '``-joined queries; a '.' inside one would split it in two."""
        entities = []
        for query in queries:
            entity = ' '.join(query.replace('.', ' ').split())
            if not entity:
                raise ValueError(f'query {query!r} is empty once its full stops are removed')
            entities.append(entity)
        return ' . '.join(entities)

    def detect(self, images: List[np.ndarray], queries: List[List[str]]) -> List[Detections]:
        """See :meth:`OpenVocabDetector.detect`."""
        results, todo = _start_results(images, queries)
        if not todo:
            return results
        # mmdet reads an array as BGR, the OpenCV order.
        inputs = [np.ascontiguousarray(images[i][..., ::-1]) for i in todo]
        outputs = self.inferencer(
            inputs, batch_size=len(inputs), texts=[self._prompt(queries[i]) for i in todo],
            custom_entities=True, return_datasamples=True, no_save_vis=True, no_save_pred=True)
        for i, sample in zip(todo, outputs['predictions']):
            pred = sample.pred_instances
            labels = pred.labels.cpu().numpy().astype(np.int64)
            keep = labels < len(queries[i])  # a label past the entities names no query
            results[i] = Detections(
                pred.bboxes.cpu().numpy().astype(np.float32)[keep],
                pred.scores.cpu().numpy().astype(np.float32)[keep], labels[keep])
        return results
