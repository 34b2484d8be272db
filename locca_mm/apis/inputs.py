"""What the inferencers accept: boxes in their several spellings, per-image values, and
the file names their pictures get."""
import os.path as osp
from numbers import Real
from typing import Callable, List, Sequence

import numpy as np
import torch

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


def is_one_box(box) -> bool:
    """``'x1,y1,x2,y2'`` or four numbers (not a list of boxes)."""
    if isinstance(box, str):
        return True
    return (isinstance(box, Sequence) and len(box) == 4
            and all(isinstance(v, (Real, np.number)) for v in box))


def to_box(box) -> List[float]:
    """One box given as ``'x1,y1,x2,y2'`` or four numbers -> four checked floats."""
    if isinstance(box, (torch.Tensor, np.ndarray)):
        box = np.asarray(box.tolist() if isinstance(box, torch.Tensor) else box).tolist()
    if isinstance(box, str):
        return parse_box(box)
    if not is_one_box(box):
        raise ValueError(f'a box is four numbers x1,y1,x2,y2, got {box!r}')
    return parse_box(','.join(str(float(v)) for v in box))


def to_box_list(boxes) -> list:
    """One box or a sequence of boxes (an array [N, 4] too) -> a list of boxes (unchecked)."""
    if isinstance(boxes, (torch.Tensor, np.ndarray)):
        boxes = boxes.tolist()
    if is_one_box(boxes):
        return [boxes]
    return list(boxes)


def per_input(value, n: int, what: str, single: Callable[[object], bool]) -> list:
    """``value`` for each of ``n`` inputs: one value shared by all, or one per input.

    Raises:
        ValueError: a list whose length is not ``n``.
    """
    if value is None or single(value):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f'{len(values)} {what}s for {n} images: give one {what} for all '
                         f'images or one per image')
    return values


def output_names(inputs: list) -> List[str]:
    """A file name stem per input: the image's name, or the input's index for an array.

    Repeated names (the same image with several texts, or two folders with an
    ``a.jpg``) get ``_1``, ``_2``, ... so that no picture overwrites another.
    """
    names, seen = [], set()
    for i, x in enumerate(inputs):
        name = osp.splitext(osp.basename(x))[0] if isinstance(x, str) else f'{i:05d}'
        base, k = name, 0
        while name in seen:
            k += 1
            name = f'{base}_{k}'
        seen.add(name)
        names.append(name)
    return names
