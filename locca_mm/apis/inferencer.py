"""LocCaInferencer: caption, locate, describe and detect on images."""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope

from locca_mm.registry import TRANSFORMS
from locca_mm.structures import LocCaDataSample

TASKS = ('cap', 'ref', 'gcap', 'detect')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def parse_box(text: str) -> List[float]:
    """``'x1,y1,x2,y2'`` -> four floats (ValueError with the reason otherwise)."""
    try:
        box = [float(v) for v in text.split(',')]
    except ValueError:
        raise ValueError(f'--box must be four numbers x1,y1,x2,y2, got {text!r}') from None
    if len(box) != 4 or not all(np.isfinite(box)):
        raise ValueError(f'--box must be four numbers x1,y1,x2,y2, got {text!r}')
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f'--box needs x2 > x1 and y2 > y1, got {text!r}')
    return box


class LocCaInferencer(BaseInferencer):
    """Run a LocCa model on images, in batches, with pictures of what it says.

    Example::

        >>> inferencer = LocCaInferencer('configs/locca_vit_b.py', 'locca.pth')
        >>> inferencer('dog.jpg', task='cap')['predictions'][0]['caption']
        >>> inferencer('dog.jpg', task='ref', text='the dog on the left')
        >>> inferencer(['a.jpg', 'b.jpg'], task='gcap', box=[10, 20, 200, 240])
        >>> inferencer('images/', task='detect', out_dir='vis/')

    Tasks: ``'cap'`` (a caption), ``'ref'`` (the box of ``text``), ``'gcap'``
    (the text of ``box``, xyxy in original-image pixels), ``'detect'``
    (boxes with their texts). Inputs are image paths, a directory, or
    ``np.ndarray`` images (BGR, as mmcv reads them).

    Args:
        model (str | Config): the model config.
        weights (str, optional): checkpoint to load.
        device (str, optional): e.g. ``'cpu'`` or ``'cuda:0'``.
        show_progress (bool): a progress bar over batches.
    """

    preprocess_kwargs = {'task', 'text', 'box'}
    forward_kwargs: set = set()
    visualize_kwargs = {'out_dir', 'show', 'draw_pred'}
    postprocess_kwargs = {'pred_out_file'}

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 show_progress: bool = True):
        init_default_scope('locca_mm')
        super().__init__(model=model, weights=weights, device=device, scope='locca_mm',
                         show_progress=show_progress)
        self.model.eval()

    def _init_pipeline(self, cfg):
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

    def _init_visualizer(self, cfg):
        from locca_mm.visualization import LocCaVisualizer
        return LocCaVisualizer(name=f'inferencer-{id(self)}')

    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, str) and osp.isdir(inputs):
            files = sorted(f for f in os.listdir(inputs) if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)}) in {inputs}')
            return [osp.join(inputs, f) for f in files]
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for x in inputs:
            if isinstance(x, str) and not osp.isfile(x):
                raise FileNotFoundError(f'image not found: {x}')
        return inputs

    def preprocess(self, inputs: list, batch_size: int = 1, task: str = 'cap',
                   text: Optional[str] = None, box: Optional[Sequence[float]] = None):
        if task not in TASKS:
            raise ValueError(f'unknown task {task!r}: choose from {TASKS}')
        if task == 'ref' and not (text and text.strip()):
            raise ValueError('task "ref" needs the referring expression: text="..."')
        if task == 'gcap':
            if box is None:
                raise ValueError('task "gcap" needs a box: box=[x1, y1, x2, y2]')
            box = parse_box(','.join(str(v) for v in box)) if not isinstance(box, str) \
                else parse_box(box)

        def to_results(x, i):
            results = dict(img=x, source=f'input #{i}') if isinstance(x, np.ndarray) \
                else dict(img_path=x, source=x)
            results['task'] = task
            if task == 'ref':
                results['ref_text'] = text.strip()
            if task == 'gcap':
                results['prompt_box'] = box
            return self.pipeline(results)

        chunk = []
        for i, x in enumerate(inputs):
            chunk.append(to_results(x, i))
            if len(chunk) == batch_size:
                yield self.collate_fn(chunk)
                chunk = []
        if chunk:
            yield self.collate_fn(chunk)

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> List[LocCaDataSample]:
        return self.model.test_step(inputs)

    def visualize(self, inputs: list, preds: List[LocCaDataSample], show: bool = False,
                  out_dir: Optional[str] = None, draw_pred: bool = True) -> List[np.ndarray]:
        """One picture per input: the original image with the prediction drawn."""
        if not out_dir and not show:
            return []
        images = []
        for i, (x, pred) in enumerate(zip(inputs, preds)):
            img = mmcv.imread(x) if isinstance(x, str) else x
            drawn = self.visualizer.draw_sample(img[..., ::-1].copy(), pred, draw_pred=draw_pred,
                                                gt_frame='original')
            images.append(drawn)
            if out_dir:
                name = osp.splitext(osp.basename(x))[0] if isinstance(x, str) else f'{i:05d}'
                os.makedirs(osp.join(out_dir, 'vis'), exist_ok=True)
                mmcv.imwrite(drawn[..., ::-1], osp.join(out_dir, 'vis', f'{name}.png'))
            if show:
                self.visualizer.show(drawn, win_name='locca')
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
        if pred.get('pred_caption') is not None:
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

