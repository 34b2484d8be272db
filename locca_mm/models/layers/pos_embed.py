"""Position embeddings: 2-D sin-cos tables, resampling of learned grids, and extending a
learned table by rows from a shorter checkpoint."""
import math

import torch
from torch import Tensor

__all__ = ['sincos_1d', 'sincos_2d', 'resize_pos_embed', 'grid_size_of', 'extend_table']


def sincos_1d(n: int, dim: int, temperature: float = 10_000.0) -> Tensor:
    """Fixed 1-D sin-cos codes of positions 0..n-1, [n, dim] (sin half, then cos half)."""
    if dim % 2:
        raise ValueError(f'sin-cos codes need an even width, got {dim}')
    half = dim // 2
    omega = 1.0 / temperature**(torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
    angles = torch.arange(n, dtype=torch.float32)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(h: int, w: int, dim: int, temperature: float = 10_000.0) -> Tensor:
    """Fixed 2-D sin-cos position table, [1, h * w, dim] (big_vision's ``posemb_sincos_2d``).

    A quarter of the channels each hold sin(x), cos(x), sin(y), cos(y) at
    geometrically spaced frequencies; entries have unit magnitude, which is
    the scale that lets a small model read positions quickly.
    """
    if dim % 4:
        raise ValueError(f'sin-cos position embedding needs a width divisible by 4, got {dim}')
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                          torch.arange(w, dtype=torch.float32), indexing='ij')
    quarter = dim // 4
    omega = torch.arange(quarter, dtype=torch.float32) / max(quarter - 1, 1)
    omega = 1.0 / temperature**omega
    x = x.flatten()[:, None] * omega[None]
    y = y.flatten()[:, None] * omega[None]
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)[None]


def grid_size_of(num_tokens: int) -> tuple:
    """(h, w) of a square grid of ``num_tokens`` tokens (ValueError if not square)."""
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f'{num_tokens} position embeddings do not form a square grid')
    return side, side


def resize_pos_embed(pos_embed: Tensor, src_shape, dst_shape, mode: str = 'bicubic',
                     num_extra_tokens: int = 0) -> Tensor:
    """mmpretrain's ``resize_pos_embed``: a [1, N, D] table resampled from grid
    ``src_shape`` to ``dst_shape`` (h, w). Imported on first use: ``mmpretrain.models``
    takes seconds to import and is not needed until a table is resampled."""
    from mmpretrain.models.utils import resize_pos_embed as resize
    return resize(pos_embed, src_shape, dst_shape, mode=mode, num_extra_tokens=num_extra_tokens)


def extend_table(table: Tensor, target: Tensor, dim: int) -> Tensor:
    """A checkpoint's ``table`` shorter than this model's ``target`` along ``dim`` (fewer
    positions, a smaller vocabulary), every other size equal: ``target`` with its leading
    rows along ``dim`` replaced by ``table`` (the others keep the model's initialisation).
    Any other table is returned unchanged, so that a real mismatch still reports."""
    if table.dim() != target.dim():
        return table
    dim %= table.dim()
    others_differ = any(a != b for i, (a, b) in enumerate(zip(table.shape, target.shape))
                        if i != dim)
    if others_differ or table.shape[dim] >= target.shape[dim]:
        return table
    extended = target.detach().clone().to(table.dtype)
    extended.narrow(dim, 0, table.shape[dim]).copy_(table)
    return extended
