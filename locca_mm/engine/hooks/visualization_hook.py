"""LocCaVisualizationHook: draw the predictions of a test (or validation) run.

What ``tools/test.py --show-dir DIR`` adds, as mmdet's ``DetVisualizationHook``
and mmpretrain's ``VisualizationHook`` do for theirs (neither can draw a
:class:`LocCaDataSample`: mmpretrain's calls ``visualize_cls``, mmdet's passes
detection-only arguments).
"""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from locca_mm.registry import HOOKS


@HOOKS.register_module()
class LocCaVisualizationHook(Hook):
    """Draw each sample's prediction (and ground truth) with :class:`LocCaVisualizer`.

    The picture is the original image (read from ``img_path`` when that is a
    file, else the model input resized back to ``ori_shape``) with the
    prediction of the sample's task drawn on it — the caption, the located
    box, the described box with its text, the detections — and the ground
    truth (the reference box of a referring expression, the reference
    captions) when ``draw_gt``.

    - ``out_dir``: every drawn sample is written to ``out_dir/<name>.png``
      (``<name>``: the image's name and the sample's index in the dataset; a
      validation picture also gets the iteration). A relative ``out_dir`` is
      taken from the working directory, as mmpretrain's ``--show-dir``.
    - ``show``: each picture is shown in a window for ``wait_time`` seconds.
    - neither: the pictures go to the runner visualizer's backends
      (``add_image``, e.g. TensorBoard).

    Args:
        enable (bool): draw at all. Defaults to True.
        interval (int): draw every ``interval``-th sample (per process).
            Defaults to 1.
        show (bool): show the pictures. Defaults to False.
        wait_time (float): seconds a shown picture stays (0: until a key).
        out_dir (str, optional): write the pictures here.
        draw_gt (bool): draw the ground truth. Defaults to True.
        draw_pred (bool): draw the prediction. Defaults to True.
        text_panel (bool): write the text in a panel under the picture (else
            on it). Defaults to True.
        draw_val (bool): also draw during validation. Defaults to False.
    """

    priority = 'NORMAL'

    def __init__(self, enable: bool = True, interval: int = 1, show: bool = False,
                 wait_time: float = 0., out_dir: Optional[str] = None, draw_gt: bool = True,
                 draw_pred: bool = True, text_panel: bool = True, draw_val: bool = False):
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.enable, self.interval = enable, interval
        self.show, self.wait_time, self.out_dir = show, wait_time, out_dir
        self.draw_gt, self.draw_pred, self.text_panel = draw_gt, draw_pred, text_panel
        self.draw_val = draw_val
        self._drawer = None
        self._seen = 0
        #: Paths of the pictures this process wrote.
        self.written = []

    def _get_drawer(self, runner):
        from locca_mm.visualization import LocCaVisualizer
        if self._drawer is None:
            current = getattr(runner, 'visualizer', None)
            self._drawer = current if isinstance(current, LocCaVisualizer) else \
                LocCaVisualizer(name=f'locca-visualization-hook-{id(self)}')
        return self._drawer

    def before_test_epoch(self, runner) -> None:
        """Count the test samples from zero."""
        self._seen = 0

    def before_val_epoch(self, runner) -> None:
        """Count the validation samples from zero."""
        self._seen = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Draw the batch's predictions."""
        self._draw(runner, data_batch, outputs, step=0, suffix='')

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Draw the batch's predictions when ``draw_val``."""
        if self.draw_val:
            self._draw(runner, data_batch, outputs, step=runner.iter,
                       suffix=f'_iter{runner.iter}')

    def _draw(self, runner, data_batch, outputs, step: int, suffix: str) -> None:
        if not self.enable or not outputs:
            return
        inputs = (data_batch or {}).get('inputs')
        for i, sample in enumerate(outputs):
            index = self._seen
            self._seen += 1
            if index % self.interval:
                continue
            model_input = inputs[i] if inputs is not None and i < len(inputs) else None
            image = original_image(sample, model_input)
            if image is None:
                continue
            name = picture_name(sample, f'{get_rank()}-{index}') + suffix
            drawer = self._get_drawer(runner)
            drawn = drawer.draw_sample(image, sample, draw_gt=self.draw_gt,
                                       draw_pred=self.draw_pred, gt_frame='original',
                                       text_panel=self.text_panel)
            if self.out_dir:
                import mmcv
                os.makedirs(self.out_dir, exist_ok=True)
                path = osp.join(self.out_dir, f'{name}.png')
                mmcv.imwrite(drawn[..., ::-1], path)
                self.written.append(path)
            if self.show:
                drawer.show(drawn, win_name=name, wait_time=self.wait_time)
            if not self.out_dir and not self.show:
                runner.visualizer.add_image(name, drawn, step)


def picture_name(sample, fallback: str) -> str:
    """``<image name>_<sample index>`` (unique per sample), or ``fallback``."""
    meta = sample.metainfo
    parts = []
    if meta.get('img_path'):
        parts.append(osp.splitext(osp.basename(str(meta['img_path'])))[0])
    if meta.get('sample_idx') is not None:
        parts.append(str(meta['sample_idx']))
    else:
        parts.append(fallback)
    return '_'.join(p for p in parts if p)


def original_image(sample, model_input=None) -> Optional[np.ndarray]:
    """The sample's image in its original frame (RGB uint8), where predictions are drawn.

    The file of ``img_path`` when it is one with the size of ``ori_shape``;
    else the model input ([3, H, W], BGR as the pipeline packs it) resized
    back to ``ori_shape``; ``None`` when there is neither.
    """
    import cv2
    import mmcv
    meta = sample.metainfo
    ori = meta.get('ori_shape')
    path = meta.get('img_path')
    if path and osp.isfile(str(path)):
        img = mmcv.imread(str(path))
        if img is not None and (ori is None or tuple(img.shape[:2]) == tuple(ori[:2])):
            return np.ascontiguousarray(img[..., ::-1])
    if model_input is None:
        return None
    img = model_input.detach().cpu().numpy() if hasattr(model_input, 'detach') \
        else np.asarray(model_input)
    img = np.ascontiguousarray(img.transpose(1, 2, 0))
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if ori is not None and tuple(img.shape[:2]) != tuple(ori[:2]):
        img = cv2.resize(img, (int(ori[1]), int(ori[0])), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img[..., ::-1])
