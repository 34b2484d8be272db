"""Task-named inferencers with mmpretrain's call shapes.

One class per task, as mmpretrain's ``ImageCaptionInferencer`` and
``VisualGroundingInferencer``::

    ImageCaptionInferencer(cfg, ckpt)(images)               # [{'pred_caption'}]
    VisualGroundingInferencer(cfg, ckpt)(images, texts)     # [{'pred_bboxes', 'pred_scores'}]
    GroundedCaptionInferencer(cfg, ckpt)(images, boxes)     # [{'pred_caption'}]
    GroundedDetectionInferencer(cfg, ckpt)(images)          # [{'pred_bboxes', 'pred_scores',
                                                            #   'pred_texts'}]
    FeatureInferencer(cfg, ckpt)(images, pooled=False)      # [Tensor [N, D] or [D]]

``images`` is a path, an ``np.ndarray`` (BGR), a list of them, or a directory.
``texts`` / ``boxes`` pair with the images: lists of the same length, or one
text / box for one image. Boxes are xyxy in original-image pixels, in and out.
Every ``__call__`` takes ``return_datasamples`` (the :class:`LocCaDataSample`
s instead of dicts) and ``batch_size``; the drawing ones also ``show``,
``show_dir`` (one picture per input, ``<image name>.png``, of the image's
size, drawn by :class:`~locca_mm.visualization.LocCaVisualizer`),
``wait_time``, ``draw_pred``, ``text_panel`` and ``num_beams``; the captioning,
grounding and grounded-captioning ones the generation controls (``do_sample``,
``temperature``, ``top_k``, ``top_p``, ``seed``, ``repetition_penalty``,
``no_repeat_ngram_size``: :class:`~locca_mm.models.decoding.GenerationControls`).
"""
from typing import List, Optional

import numpy as np
import torch

from locca_mm.models.decoding import CONTROL_KEYS
from locca_mm.registry import INFERENCERS
from locca_mm.structures import LocCaDataSample

from .inferencer import LocCaInferencer
from .inputs import to_box_list

__all__ = [
    'ImageCaptionInferencer', 'VisualGroundingInferencer', 'GroundedCaptionInferencer',
    'GroundedDetectionInferencer', 'FeatureInferencer'
]


#: The constructor's arguments, the same for every task-named inferencer.
_INIT_ARGS = """
    Args:
        model (str | Config): the model config.
        weights (str, optional): checkpoint to load.
        device (str, optional): e.g. ``'cpu'`` or ``'cuda:0'``.
        show_progress (bool): a progress bar over batches.
"""
#: The call arguments of the drawing inferencers; ``{unit}``: one input (an image or a pair).
_CALL_ARGS = """return_datasamples (bool): return the :class:`LocCaDataSample` s.
            batch_size (int): {unit}s per forward pass.
            show (bool): show each picture in a window.
            show_dir (str, optional): write one picture per {unit} here.
            **kwargs: ``wait_time``, ``draw_pred``, ``text_panel``, ``num_beams``, and
                the generation controls (``do_sample``, ``temperature``, ``top_k``,
                ``top_p``, ``seed``, ``repetition_penalty``, ``no_repeat_ngram_size``)."""


def _documented(unit: Optional[str] = None):
    """Completes a task inferencer's docstrings: the constructor's arguments (class), and
    with ``unit`` the shared call arguments (``{common}`` in ``__call__``'s)."""
    def complete(cls):
        cls.__doc__ = cls.__doc__.rstrip() + '\n' + _INIT_ARGS
        if unit is not None:
            call = cls.__dict__['__call__']
            call.__doc__ = call.__doc__.replace('{common}', _CALL_ARGS.format(unit=unit))
        return cls

    return complete


class _TaskInferencer(LocCaInferencer):
    """One task of :class:`LocCaInferencer`, returning a list with one result per input.

    Subclasses set :attr:`task` and implement :meth:`pred_to_result`.
    """

    #: The task every input is run with.
    task: str = 'cap'
    preprocess_kwargs: set = set()
    forward_kwargs = {'num_beams', *CONTROL_KEYS}
    visualize_kwargs = {'show', 'show_dir', 'wait_time', 'draw_pred', 'text_panel'}
    postprocess_kwargs: set = set()
    text_panel = False

    def _paired(self, images, values, what: str, one) -> tuple:
        """(image list, value list) of equal length, or ValueError (mmpretrain's shape)."""
        images = self._inputs_to_list(images)
        values = [values] if one(values) else list(values)
        if len(values) != len(images):
            raise ValueError(f'{len(images)} image(s) but {len(values)} {what}(s): give one '
                             f'{what} per image (lists of equal length, or one {what} for one '
                             f'image)')
        return images, values

    def _predict(self, images, return_datasamples: bool, batch_size: int, kwargs: dict,
                 text=None, box=None) -> list:
        """Run :attr:`task` on ``images`` with the per-image ``text`` / ``box``."""
        _, forward_kwargs, visualize_kwargs, postprocess_kwargs = self._dispatch_kwargs(**kwargs)
        return self._run(images, return_datasamples, batch_size,
                         dict(task=self.task, text=text, box=box), forward_kwargs,
                         visualize_kwargs, postprocess_kwargs)

    def postprocess(self, preds: List[LocCaDataSample], visualization: List[np.ndarray],
                    return_datasamples: bool = False) -> list:
        """The data samples, or a dict per input (:meth:`pred_to_result`)."""
        if return_datasamples:
            return preds
        return [self.pred_to_result(p) for p in preds]

    def pred_to_result(self, pred: LocCaDataSample) -> dict:
        """One input's result (tensors on the CPU, boxes in original-image pixels)."""
        raise NotImplementedError


@_documented('image')
class _ImageTaskInferencer(_TaskInferencer):
    """A task run on images alone (no text or box paired with them)."""

    def __call__(self, images, return_datasamples: bool = False, batch_size: int = 1,
                 show: bool = False, show_dir: Optional[str] = None, **kwargs) -> list:
        """Run the task on each image.

        Args:
            images (str | np.ndarray | list): image paths or BGR arrays, or a directory.
            {common}

        Returns:
            list[dict]: one result per image, in input order (:meth:`pred_to_result`).
        """
        return self._predict(images, return_datasamples, batch_size,
                             dict(kwargs, show=show, show_dir=show_dir))



@INFERENCERS.register_module()
@_documented()
class ImageCaptionInferencer(_ImageTaskInferencer):
    """Caption images (the ``'cap'`` task).

    Example::

        >>> from locca_mm.apis import ImageCaptionInferencer
        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = ImageCaptionInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg')[0]
        {'pred_caption': 'a dog on a sofa'}
    """

    task = 'cap'

    def pred_to_result(self, pred: LocCaDataSample) -> dict:
        """``{'pred_caption': str}``."""
        return {'pred_caption': pred.get('pred_caption')}


@INFERENCERS.register_module()
@_documented('pair')
class VisualGroundingInferencer(_TaskInferencer):
    """Locate referring expressions (the ``'ref'`` task): text -> box.

    Example::

        >>> from locca_mm.apis import VisualGroundingInferencer
        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = VisualGroundingInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg', 'the dog on the left')[0]
        {'pred_bboxes': tensor([[ 36.6,  29.6, 355.8, 395.2]]), 'pred_scores': tensor([0.41])}
        >>> inferencer(['a.jpg', 'a.jpg'], ['the dog', 'the cat'])  # two expressions, one image
    """

    task = 'ref'

    def __call__(self, images, texts, return_datasamples: bool = False, batch_size: int = 1,
                 show: bool = False, show_dir: Optional[str] = None, **kwargs) -> list:
        """Locate ``texts[i]`` in ``images[i]``.

        Args:
            images (str | np.ndarray | list): image paths or BGR arrays.
            texts (str | list[str]): one referring expression per image (one
                string for one image).
            {common}

        Returns:
            list[dict]: ``{'pred_bboxes': Tensor [1, 4], 'pred_scores': Tensor [1]}``
            per pair, boxes xyxy in original-image pixels.
        """
        images, texts = self._paired(images, texts, 'text', lambda v: isinstance(v, str))
        return self._predict(images, return_datasamples, batch_size,
                             dict(kwargs, show=show, show_dir=show_dir), text=texts)

    def pred_to_result(self, pred: LocCaDataSample) -> dict:
        """``{'pred_bboxes': Tensor [1, 4], 'pred_scores': Tensor [1]}``."""
        inst = pred.pred_instances
        return {'pred_bboxes': inst.bboxes.detach().cpu(),
                'pred_scores': inst.scores.detach().cpu()}


@INFERENCERS.register_module()
@_documented('pair')
class GroundedCaptionInferencer(_TaskInferencer):
    """Describe boxes (the ``'gcap'`` task): box -> text.

    Example::

        >>> from locca_mm.apis import GroundedCaptionInferencer
        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = GroundedCaptionInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg', [36, 29, 355, 395])[0]
        {'pred_caption': 'a brown dog'}
        >>> inferencer(['a.jpg', 'b.jpg'], [[0, 0, 50, 50], '10,10,90,60'])
    """

    task = 'gcap'

    def __call__(self, images, boxes, return_datasamples: bool = False, batch_size: int = 1,
                 show: bool = False, show_dir: Optional[str] = None, **kwargs) -> list:
        """Describe ``boxes[i]`` of ``images[i]``.

        Args:
            images (str | np.ndarray | list): image paths or BGR arrays.
            boxes: one box per image, xyxy in original-image pixels, each four
                numbers or ``'x1,y1,x2,y2'`` (an array [N, 4] too); one box for
                one image.
            {common}

        Returns:
            list[dict]: ``{'pred_caption': str}`` (the region's text) per pair.
        """
        boxes = to_box_list(boxes)
        images, boxes = self._paired(images, boxes, 'box', lambda v: False)
        return self._predict(images, return_datasamples, batch_size,
                             dict(kwargs, show=show, show_dir=show_dir), box=boxes)

    def pred_to_result(self, pred: LocCaDataSample) -> dict:
        """``{'pred_caption': str}``."""
        return {'pred_caption': pred.get('pred_caption')}


@INFERENCERS.register_module()
@_documented()
class GroundedDetectionInferencer(_ImageTaskInferencer):
    """Detect regions with their texts (the ``'detect'`` task: GCap with no box given).

    The decoder proposes ``num_beams`` boxes by beam search over the box
    tokens after the GCap prompt (the model's ``test_cfg.num_beams`` unless
    given to the call), then writes each box's text.

    Example::

        >>> from locca_mm.apis import GroundedDetectionInferencer
        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = GroundedDetectionInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg', num_beams=5)[0]['pred_texts']
        ['a brown dog', 'a red sofa', ...]
    """

    task = 'detect'

    def pred_to_result(self, pred: LocCaDataSample) -> dict:
        """``{'pred_bboxes': Tensor [K, 4], 'pred_scores': Tensor [K], 'pred_texts': [K]}``."""
        inst = pred.pred_instances
        texts = list(inst.texts) if 'texts' in inst else [''] * len(inst.bboxes)
        return {'pred_bboxes': inst.bboxes.detach().cpu(),
                'pred_scores': inst.scores.detach().cpu(), 'pred_texts': texts}


@INFERENCERS.register_module()
@_documented()
class FeatureInferencer(_TaskInferencer):
    """The encoder's output per image (the ``'feature'`` task), as mmpretrain's FeatureExtractor.

    ``pooled=False``: the visual tokens the decoder reads, [N, D] (N = image
    patches, plus a class token when the encoder has one). ``pooled=True``:
    one [D] vector — the model's MAP pooler (the attentional pooler of a
    CoCa / CLIP ``contrastive_head`` with ``pool='map'``; its output before the
    contrastive projection) when it has one, else the mean of the tokens.
    Works for contrastive-only models (no decoder) too. Nothing is drawn.

    Example::

        >>> from locca_mm.apis import FeatureInferencer
        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = FeatureInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg')[0].shape
        torch.Size([196, 768])
        >>> inferencer(['a.jpg', 'b.jpg'], pooled=True)[1].shape
        torch.Size([768])
    """

    task = 'feature'
    needs_decoder = False
    forward_kwargs = {'pooled'}
    visualize_kwargs: set = set()

    def __call__(self, images, return_datasamples: bool = False, batch_size: int = 1,
                 pooled: bool = False, **kwargs) -> list:
        """The features of each image.

        Args:
            images (str | np.ndarray | list): image paths or BGR arrays, or a directory.
            return_datasamples (bool): return :class:`LocCaDataSample` s with
                the feature in ``pred_feature``.
            batch_size (int): images per forward pass.
            pooled (bool): one vector per image instead of the tokens.

        Returns:
            list[Tensor]: per image, [N, D] tokens or a [D] vector (on the CPU).
        """
        return self._predict(images, return_datasamples, batch_size, dict(kwargs, pooled=pooled))

    def preprocess(self, inputs: list, batch_size: int = 1, **kwargs):
        """Yield collated batches of images (no task, no prompt)."""
        for start in range(0, len(inputs), batch_size):
            chunk = [self.pipeline(self._to_results(inputs[i], i))
                     for i in range(start, min(len(inputs), start + batch_size))]
            yield self.collate_fn(chunk)

    @torch.no_grad()
    def forward(self, inputs: dict, pooled: bool = False, **kwargs) -> List[LocCaDataSample]:
        """Encode the batch; ``pred_feature`` of each data sample is its tokens or vector."""
        data = self.model.data_preprocessor(inputs, False)
        tokens = self.model.extract_feat(data['inputs'])
        features = self.pool(tokens) if pooled else tokens
        samples = data['data_samples']
        for ds, feature in zip(samples, features):
            ds.pred_feature = feature.detach().float().cpu()
            ds.task = 'feature'
        return samples

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, N, D] tokens -> [B, D]: the model's MAP pooler if it has one, else the mean."""
        pooler = getattr(getattr(self.model, 'contrastive_head', None), 'image_pool', None)
        if pooler is not None:
            return pooler(tokens)[:, 0]
        return tokens.mean(dim=1)

    def visualize(self, inputs: list, preds: List[LocCaDataSample]) -> list:
        """Features are not drawn: an empty list."""
        return []

    def pred_to_result(self, pred: LocCaDataSample) -> torch.Tensor:
        """The feature tensor."""
        return pred.pred_feature
