"""Non-overlapping window partitioning of a token grid (ViTDet / SAM window attention).

Shapes: ``B`` batch, ``h, w`` the token grid, ``D`` width, ``s`` the window
side, ``nW`` windows per image.
"""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor


def window_partition(x: Tensor, grid: Tuple[int, int], size: int
                     ) -> Tuple[Tensor, Tuple[int, int]]:
    """Cut tokens into ``size`` x ``size`` windows, zero-padding the grid to a multiple.

    Args:
        x: [B, h * w, D] tokens in row-major grid order.
        grid: (h, w).
        size: Window side s.

    Returns:
        ``([B * nW, s * s, D], (hp, wp))`` with the padded grid (hp, wp).
        As in ViTDet the padded tokens are zeros and are not masked out.
    """
    b, _, d = x.shape
    h, w = grid
    x = x.view(b, h, w, d)
    pad_h, pad_w = (size - h % size) % size, (size - w % size) % size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // size, size, wp // size, size, d).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, size * size, d), (hp, wp)


def window_unpartition(windows: Tensor, grid: Tuple[int, int], padded: Tuple[int, int],
                       size: int) -> Tensor:
    """Inverse of :func:`window_partition`: [B * nW, s * s, D] -> [B, h * w, D]."""
    h, w = grid
    hp, wp = padded
    d = windows.shape[-1]
    b = windows.shape[0] // ((hp // size) * (wp // size))
    x = windows.view(b, hp // size, wp // size, size, size, d).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, hp, wp, d)[:, :h, :w]
    return x.reshape(b, h * w, d)
