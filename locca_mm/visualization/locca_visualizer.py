"""LocCaVisualizer: boxes and text of a sample — what it was given and what the model said."""
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from locca_mm.registry import VISUALIZERS

GT_COLOUR = (46, 204, 113)
PRED_COLOUR = (231, 76, 60)
PROMPT_COLOUR = (52, 152, 219)


def _printable(text: str) -> str:
    """``text`` with characters a font cannot draw (control bytes of an untrained model) as '?'."""
    return ''.join(c if c.isprintable() else '?' for c in text)


def _lines(data_sample, tokenizer=None, draw_gt=True, draw_pred=True) -> List[str]:
    lines = []
    task = data_sample.get('task')
    if task:
        lines.append(f'task: {task}')
    if data_sample.get('prompt_text'):
        lines.append(f'text: {data_sample.prompt_text}')
    if draw_gt and data_sample.get('gt_caption'):
        lines.append(f'caption: {data_sample.gt_caption}')
    if draw_pred and data_sample.get('pred_caption') is not None:
        lines.append(f'predicted: {data_sample.pred_caption}')
    if tokenizer is not None and data_sample.get('task_sequences'):
        for name, seq in data_sample.task_sequences.items():
            text = tokenizer.text_tokenizer.decode(seq.tokens)
            lines.append(f'{name} [{int(seq.prefix_len)}]: {text}')
    return lines


@VISUALIZERS.register_module()
class LocCaVisualizer(Visualizer):
    """Draws a :class:`LocCaDataSample` on its image.

    Green: ground-truth regions with their texts (and the reference box of a
    referring expression); blue: the prompt box of a GCap prediction; red:
    predicted boxes with their texts (detection) and scores. Captions, the
    referring expression, predicted text and (for browsing the data) the
    decoded task sequences are written in a panel under the image (or on it:
    ``text_panel=False``).

    Args:
        name (str): instance name. Defaults to 'visualizer'.
        line_width (int): box line width. Defaults to 2.
        font_size (int): label font size. Defaults to 9.
        **kwargs: :class:`mmengine.visualization.Visualizer` arguments.
    """

    def __init__(self, name: str = 'visualizer', line_width: int = 2, font_size: int = 9,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.line_width, self.font_size = line_width, font_size

    def _boxes(self, boxes, labels: Sequence[str], colour) -> None:
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return
        self.draw_bboxes(boxes, edge_colors=[colour] * len(boxes),
                         line_widths=self.line_width)
        for box, label in zip(boxes, labels):
            if label:
                self.draw_texts(_printable(label), box[:2] + 1, colors=[colour],
                                font_sizes=self.font_size,
                                bboxes=dict(facecolor='black', alpha=0.6, pad=0.5,
                                            edgecolor='none'))

    def draw_sample(self, image: np.ndarray, data_sample, tokenizer=None, draw_gt: bool = True,
                    draw_pred: bool = True, gt_frame: str = 'input',
                    text_panel: bool = True) -> np.ndarray:
        """RGB image [H, W, 3] with the sample drawn, plus the text panel.

        Args:
            image: the image to draw on (RGB uint8), in the frame of the boxes.
            data_sample: a :class:`LocCaDataSample`.
            tokenizer: a ``LocCaTokenizer`` to decode ``task_sequences`` (browsing).
            gt_frame: ``'input'`` when ``image`` is the model input (regions of
                ``gt_instances``), ``'original'`` for the original image
                (``gt_ref_bbox``, ``prompt_box``, predictions).
            text_panel: write the text in a white panel under the image (the
                picture grows); ``False`` writes it on the image, top left, on a
                dark background, without the ``task:`` line, and the picture
                keeps the image's size (as mmpretrain's inferencers draw captions).
        """
        self.set_image(image)
        if draw_gt:
            if gt_frame == 'input' and 'gt_instances' in data_sample:
                inst = data_sample.gt_instances
                texts = list(inst.texts) if 'texts' in inst else [''] * len(inst.bboxes)
                self._boxes(inst.bboxes.cpu().numpy(), texts, GT_COLOUR)
            if gt_frame == 'original' and data_sample.get('gt_ref_bbox') is not None:
                self._boxes(data_sample.gt_ref_bbox.cpu().numpy(), ['gt'], GT_COLOUR)
        if data_sample.get('prompt_box') is not None and gt_frame == 'original':
            self._boxes(np.asarray(data_sample.prompt_box.cpu()), ['box'], PROMPT_COLOUR)
        if draw_pred and 'pred_instances' in data_sample:
            pred = data_sample.pred_instances
            scores = pred.scores.cpu().numpy() if 'scores' in pred else [None] * len(pred.bboxes)
            texts = list(pred.texts) if 'texts' in pred else [''] * len(pred.bboxes)
            labels = [' '.join(x for x in (t, f'{s:.2f}' if s is not None else '') if x)
                      for t, s in zip(texts, scores)]
            self._boxes(pred.bboxes.cpu().numpy(), labels, PRED_COLOUR)
        lines = _lines(data_sample, tokenizer, draw_gt, draw_pred)
        if not text_panel:
            lines = [line for line in lines if not line.startswith('task: ')]
            if lines:
                # The font follows the image's size (9 at 224 px), as mmdet's labels do.
                h, w = image.shape[:2]
                scale = float(np.clip(np.sqrt(h * w) / 224, 0.5, 2.5))
                self.draw_texts(_printable('\n'.join(lines)), np.array([2, 2]), colors='white',
                                font_sizes=max(4, int(round(self.font_size * scale))),
                                bboxes=dict(facecolor='black', alpha=0.6, pad=1,
                                            edgecolor='none'))
            return self.get_image()
        return with_text_panel(self.get_image(), lines)

    @master_only
    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None, step: int = 0,
                       tokenizer=None, gt_frame: str = 'original',
                       text_panel: bool = True) -> None:
        """Draw and show, save to ``out_file``, or log to the vis backends (mmengine API).

        ``image`` is RGB; ``text_panel`` as in :meth:`draw_sample`.
        """
        drawn = self.draw_sample(image, data_sample, tokenizer, draw_gt, draw_pred, gt_frame,
                                 text_panel) if data_sample is not None else image
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            import mmcv
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)


def with_text_panel(image: np.ndarray, lines: List[str], line_height: int = 14,
                    max_chars: int = 0) -> np.ndarray:
    """``image`` with ``lines`` of text written in a white panel below it."""
    import cv2
    if not lines:
        return image
    h, w = image.shape[:2]
    width = max(w, 320)
    chars = max_chars or max(20, width // 7)
    wrapped = []
    for line in lines:
        while len(line) > chars:
            wrapped.append(line[:chars])
            line = '  ' + line[chars:]
        wrapped.append(line)
    panel = np.full((line_height * len(wrapped) + 6, width, 3), 255, dtype=np.uint8)
    for i, line in enumerate(wrapped):
        cv2.putText(panel, line, (4, line_height * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (20, 20, 20), 1, cv2.LINE_AA)
    canvas = np.full((h, width, 3), 255, dtype=np.uint8)
    canvas[:, :w] = image
    return np.concatenate([canvas, panel], axis=0)
