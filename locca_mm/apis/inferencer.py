"""LocCaInferencer: caption, locate, describe and detect on images.

It is also the shared base of the task-named inferencers of
:mod:`locca_mm.apis.task_inferencers` (``ImageCaptionInferencer``,
``VisualGroundingInferencer``, ...): loading the model, the test frame
(resize to the encoder's input size), batching with a progress bar, and one
picture per input drawn by :class:`~locca_mm.visualization.LocCaVisualizer`.
"""
import json
import os
import os.path as osp
import warnings
from functools import partial
from math import ceil
from typing import Callable, List, Optional

import mmcv
import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from locca_mm.models.decoding import CONTROL_KEYS
from locca_mm.registry import INFERENCERS, MODELS, TRANSFORMS
from locca_mm.structures import LocCaDataSample
from locca_mm.structures.tasks import PREDICT_TASKS

from .inputs import IMAGE_EXTS, is_one_box, output_names, per_input, to_box


@INFERENCERS.register_module()
class LocCaInferencer(BaseInferencer):
    """Run a LocCa model on images, in batches, with pictures of what it says.

    Example::

        >>> cfg = 'configs/locca/locca_vit-b16_256xb32-1100k_webli.py'
        >>> inferencer = LocCaInferencer(cfg, 'locca.pth')
        >>> inferencer('dog.jpg', task='cap')['predictions'][0]['caption']
        >>> inferencer('dog.jpg', task='ref', text='the dog on the left')
        >>> inferencer(['a.jpg', 'b.jpg'], task='gcap', box=[10, 20, 200, 240])
        >>> inferencer(['a.jpg', 'a.jpg'], task='ref', text=['the dog', 'the cat'])
        >>> inferencer('images/', task='detect', out_dir='vis/')

    Tasks: ``'cap'`` (a caption), ``'ref'`` (the box of ``text``), ``'gcap'``
    (the text of ``box``, xyxy in original-image pixels), ``'detect'``
    (boxes with their texts), ``'detect_seq'`` (every object in one GCap
    sequence, greedily; ``max_boxes`` and ``classes`` from the model's
    ``test_cfg``: without ``classes`` the texts are free). Inputs are image paths, a directory, or
    ``np.ndarray`` images (BGR, as mmcv reads them). ``text`` / ``box`` is one
    value for every image, or a list with one per image.

    Call keywords: ``task``, ``text``, ``box``, ``batch_size``,
    ``return_datasamples``, ``num_beams`` (beam width; ``'detect'``: the number
    of boxes proposed), the generation controls of ``'cap'``, ``'ref'``, ``'gcap'``
    and ``'vqa'`` (``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``seed``,
    ``repetition_penalty``, ``no_repeat_ngram_size``:
    :class:`~locca_mm.models.decoding.GenerationControls`), ``out_dir`` (pictures in
    ``out_dir/vis/``), ``show_dir`` (pictures in ``show_dir/``), ``show``, ``wait_time``,
    ``draw_pred``, ``text_panel`` and ``pred_out_file`` (the predictions as
    JSON). Returns ``{'predictions': [...], 'visualization': [...]}``.

    The task-named inferencers of :mod:`locca_mm.apis` (mmpretrain's call
    shapes) derive from this class.

    Args:
        model (str | Config): the model config.
        weights (str, optional): checkpoint to load.
        device (str, optional): e.g. ``'cpu'`` or ``'cuda:0'``.
        show_progress (bool): a progress bar over batches.
    """

    preprocess_kwargs = {'task', 'text', 'box'}
    forward_kwargs = {'num_beams', *CONTROL_KEYS}
    visualize_kwargs = {'out_dir', 'show_dir', 'show', 'wait_time', 'draw_pred', 'text_panel'}
    postprocess_kwargs = {'pred_out_file'}
    #: The default of ``text_panel`` (text under the picture, else on it).
    text_panel: bool = True
    #: Whether the model must have a decoder (``head``): all tasks but ``'feature'``.
    needs_decoder: bool = True

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 show_progress: bool = True):
        init_default_scope('locca_mm')
        super().__init__(model=model, weights=weights, device=device, scope='locca_mm',
                         show_progress=show_progress)
        self.model.eval()
        if self.needs_decoder and getattr(self.model, 'head', 1) is None:
            raise ValueError('this model has no decoder (a contrastive-only model): only the '
                             'features can be extracted (FeatureInferencer, --task feature)')

    # ------------------------------------------------------------------ set-up
    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu'):
        """Build ``cfg.model`` and load ``weights`` with ``weights_only`` loading.

        A local checkpoint is read by :func:`~locca_mm.compat.checkpoint_io.safe_torch_load`
        (the checkpoints locca_mm's runs write, older ones included, without
        allowing code to run on load); a URL by mmengine's loader.
        """
        if not cfg or cfg.get('model') is None:
            raise ValueError('LocCaInferencer needs a config with a model')
        checkpoint = None
        if weights is not None:
            if '://' in weights:
                checkpoint = _load_checkpoint(weights, map_location='cpu')
            else:
                from locca_mm.compat.checkpoint_io import safe_torch_load
                checkpoint = safe_torch_load(weights, map_location='cpu')
        if cfg.model.get('pretrained') is not None:
            del cfg.model.pretrained
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
        else:
            warnings.warn('no checkpoint given: the predictions come from randomly '
                          'initialised weights', stacklevel=3)
        model.to(device)
        model.eval()
        return model

    def _init_pipeline(self, cfg) -> Callable[[dict], dict]:
        """Decode, resize to the encoder's input size and pack (the model's test frame)."""
        backbone = cfg.model.backbone
        size = backbone.get('img_size', 224)
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        transforms = [dict(type='LoadImage'),
                      dict(type='Resize', scale=(w, h), keep_ratio=False),
                      dict(type='PackLocCaInputs')]
        built = [TRANSFORMS.build(t) for t in transforms]

        def pipeline(results: dict) -> dict:
            for t in built:
                results = t(results)
            return results

        return pipeline

    def _init_collate(self, cfg) -> Callable[[list], dict]:
        """The config's ``test_dataloader.collate_fn``, built as the Runner builds it.

        ``dict(type='pseudo_collate', **kwargs)``, a registered name, or a
        callable; :func:`~mmengine.dataset.pseudo_collate` when the config has
        none. (mmengine 0.10.7's ``BaseInferencer`` passes the dict itself to
        ``Registry.get`` and fails on every config that names its collate_fn.)
        """
        loader = cfg.get('test_dataloader') or {}
        spec = loader.get('collate_fn') if hasattr(loader, 'get') else None
        if spec is None:
            return pseudo_collate
        if callable(spec):
            return spec
        kwargs = {}
        if isinstance(spec, dict):
            kwargs = dict(spec)
            spec = kwargs.pop('type', 'pseudo_collate')
        if isinstance(spec, str):
            fn = FUNCTIONS.get(spec)
            if fn is None:
                raise ValueError(f'test_dataloader.collate_fn: no function {spec!r} is registered')
        elif callable(spec):
            fn = spec
        else:
            raise TypeError(f'test_dataloader.collate_fn must be a dict, a name or a callable, '
                            f'got {type(spec).__name__}')
        return partial(fn, **kwargs) if kwargs else fn

    def _init_visualizer(self, cfg):
        """A :class:`LocCaVisualizer` of this inferencer's own."""
        from locca_mm.visualization import LocCaVisualizer
        return LocCaVisualizer(name=f'inferencer-{id(self)}')

    # ------------------------------------------------------------------ running
    def __call__(self, inputs, return_datasamples: bool = False, batch_size: int = 1,
                 **kwargs) -> dict:
        """Predict on ``inputs`` (see the class docstring for the keywords).

        Returns:
            dict: ``predictions`` (a JSON-ready dict per input, or the
            :class:`LocCaDataSample` s with ``return_datasamples=True``) and
            ``visualization`` (the drawn pictures, RGB; empty unless drawn).
        """
        pre, fwd, vis, post = self._dispatch_kwargs(**kwargs)
        return self._run(inputs, return_datasamples, batch_size, pre, fwd, vis, post)

    def _run(self, inputs, return_datasamples: bool, batch_size: int, preprocess_kwargs: dict,
             forward_kwargs: dict, visualize_kwargs: dict, postprocess_kwargs: dict):
        """mmengine's inference loop, with a progress bar that knows its length."""
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        ori_inputs = self._inputs_to_list(inputs)
        forward_kwargs = self._seeded(forward_kwargs)
        batches = self.preprocess(ori_inputs, batch_size=batch_size, **preprocess_kwargs)
        if self.show_progress:
            from rich.progress import track
            batches = track(batches, description='Inference',
                            total=ceil(len(ori_inputs) / batch_size))
        preds = []
        for data in batches:
            preds.extend(self.forward(data, **forward_kwargs))
        visualization = self.visualize(ori_inputs, preds, **visualize_kwargs)
        return self.postprocess(preds, visualization, return_datasamples, **postprocess_kwargs)

    def _inputs_to_list(self, inputs) -> list:
        """Image paths, arrays, or a directory (its images, sorted) -> a list of inputs."""
        if isinstance(inputs, str) and osp.isdir(inputs):
            files = sorted(f for f in os.listdir(inputs) if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) in {inputs}')
            return [osp.join(inputs, f) for f in files]
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for x in inputs:
            if isinstance(x, str) and not osp.isfile(x):
                raise FileNotFoundError(f'image not found: {x}')
            if not isinstance(x, (str, np.ndarray)):
                raise TypeError(f'an image is a path or an np.ndarray, got {type(x).__name__}')
        return inputs

    def _to_results(self, x, i: int) -> dict:
        """The pipeline's input dict of one image (a path or a BGR array)."""
        return dict(img=x, source=f'input #{i}') if isinstance(x, np.ndarray) \
            else dict(img_path=x, source=x)

    def preprocess(self, inputs: list, batch_size: int = 1, task: str = 'cap',
                   text=None, box=None):
        """Yield collated batches of ``task`` samples.

        Args:
            inputs (list): images (paths or BGR arrays).
            batch_size (int): samples per batch.
            task (str): one of :data:`~locca_mm.structures.tasks.PREDICT_TASKS`.
            text (str | list[str], optional): the referring expression
                (``'ref'``) or the question (``'vqa'``), one for all images or
                one per image.
            box (optional): the box (``'gcap'``), xyxy in original-image
                pixels (four numbers or ``'x1,y1,x2,y2'``), one for all images
                or one per image.
        """
        names = tuple(PREDICT_TASKS)
        if task not in names:
            raise ValueError(f'unknown task {task!r}: choose from {names}')
        n = len(inputs)
        texts = per_input(text, n, 'text', lambda v: isinstance(v, str))
        boxes = per_input(box, n, 'box', lambda v: is_one_box(v) or
                          (isinstance(v, (np.ndarray, torch.Tensor)) and v.ndim == 1))
        if task in ('ref', 'vqa'):
            if any(not (isinstance(t, str) and t.strip()) for t in texts):
                what = 'the referring expression' if task == 'ref' else 'the question'
                raise ValueError(f'task "{task}" needs {what}: text="..."')
            texts = [t.strip() for t in texts]
        if task == 'gcap':
            if any(b is None for b in boxes):
                raise ValueError('task "gcap" needs a box: box=[x1, y1, x2, y2]')
            boxes = [to_box(b) for b in boxes]

        def to_results(i):
            results = self._to_results(inputs[i], i)
            results['task'] = task
            if task in ('ref', 'vqa'):
                results['ref_text' if task == 'ref' else 'question'] = texts[i]
            if task == 'gcap':
                results['prompt_box'] = boxes[i]
            return self.pipeline(results)

        for start in range(0, n, batch_size):
            yield self.collate_fn([to_results(i) for i in range(start, min(n, start + batch_size))])

    @torch.no_grad()
    def forward(self, inputs: dict, **overrides) -> List[LocCaDataSample]:
        """``model.test_step``; ``num_beams`` and the generation controls given (not None)
        replace the model's ``test_cfg`` values for this call."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if 'num_beams' in overrides:
            overrides['num_beams'] = int(overrides['num_beams'])
        test_cfg = self.model.test_cfg
        before = {k: test_cfg[k] for k in overrides if k in test_cfg}
        test_cfg.update(overrides)
        try:
            return self.model.test_step(inputs)
        finally:
            for k in overrides:
                test_cfg.pop(k)
            test_cfg.update(before)

    def _seeded(self, forward_kwargs: dict) -> dict:
        """``seed`` -> one ``torch.Generator`` (on the model's device) for the whole call,
        so its batches draw one reproducible stream."""
        if forward_kwargs.get('seed') is None:
            return forward_kwargs
        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(int(forward_kwargs['seed']))
        return dict({k: v for k, v in forward_kwargs.items() if k != 'seed'},
                    generator=generator)

    # ------------------------------------------------------------------ output
    def visualize(self, inputs: list, preds: List[LocCaDataSample], show: bool = False,
                  out_dir: Optional[str] = None, draw_pred: bool = True,
                  show_dir: Optional[str] = None, wait_time: float = 0,
                  text_panel: Optional[bool] = None) -> List[np.ndarray]:
        """One picture per input: the original image with the prediction drawn.

        Args:
            inputs (list): the images (paths or BGR arrays).
            preds (list[LocCaDataSample]): their predictions.
            show (bool): show each picture in a window.
            out_dir (str, optional): write ``out_dir/vis/<image name>.png``.
            draw_pred (bool): draw the prediction (else only the prompt).
            show_dir (str, optional): write ``show_dir/<image name>.png``.
            wait_time (float): seconds a shown picture stays (0: until a key).
            text_panel (bool, optional): the text under the picture (True) or
                on it, keeping the image's size (False). Defaults to the
                class's :attr:`text_panel`.

        Returns:
            list[np.ndarray]: the pictures (RGB), empty when nothing is drawn.
        """
        if not (out_dir or show_dir or show):
            return []
        panel = self.text_panel if text_panel is None else text_panel
        dirs = [d for d in (osp.join(out_dir, 'vis') if out_dir else None, show_dir) if d]
        for d in dirs:
            os.makedirs(d, exist_ok=True)
        images = []
        for x, pred, name in zip(inputs, preds, output_names(inputs)):
            img = mmcv.imread(x) if isinstance(x, str) else x
            drawn = self.visualizer.draw_sample(img[..., ::-1].copy(), pred, draw_pred=draw_pred,
                                                gt_frame='original', text_panel=panel)
            images.append(drawn)
            for d in dirs:
                mmcv.imwrite(drawn[..., ::-1], osp.join(d, f'{name}.png'))
            if show:
                self.visualizer.show(drawn, win_name=name, wait_time=wait_time)
        return images

    def postprocess(self, preds: List[LocCaDataSample], visualization: List[np.ndarray],
                    return_datasamples: bool = False,
                    pred_out_file: Optional[str] = None) -> dict:
        """``{'predictions': [dict per image], 'visualization': [images]}``."""
        results = [self.pred_to_dict(p) for p in preds]
        if pred_out_file:
            os.makedirs(osp.dirname(osp.abspath(pred_out_file)), exist_ok=True)
            with open(pred_out_file, 'w', encoding='utf-8') as f:
                json.dump(results, f, indent=1)
        return dict(predictions=preds if return_datasamples else results,
                    visualization=visualization)

    @staticmethod
    def pred_to_dict(pred: LocCaDataSample) -> dict:
        """The JSON-ready prediction of one image (boxes in original-image pixels)."""
        out = dict(image=pred.metainfo.get('img_path', pred.metainfo.get('source')),
                   task=pred.get('task'))
        if pred.get('prompt_text'):
            out['text'] = pred.prompt_text
        if pred.get('prompt_box') is not None:
            out['box'] = [round(float(v), 2) for v in pred.prompt_box]
        if pred.get('pred_answer') is not None:
            out['answer'] = pred.pred_answer
        elif pred.get('pred_caption') is not None:
            out['caption'] = pred.pred_caption
        if 'pred_instances' in pred:
            inst = pred.pred_instances
            boxes = [[round(float(v), 2) for v in b] for b in inst.bboxes]
            scores = [round(float(s), 4) for s in inst.scores]
            if out['task'] == 'ref':
                out['bbox'], out['score'] = boxes[0], scores[0]
            else:
                texts = list(inst.texts) if 'texts' in inst else [''] * len(boxes)
                out['detections'] = [dict(bbox=b, score=s, text=t)
                                     for b, s, t in zip(boxes, scores, texts)]
        return out
