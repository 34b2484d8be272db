"""What the converters share: the result type, the encoder arguments read off the
tensors, position-table resampling, and building / saving a converted encoder (and MAP
pooler)."""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from torch import Tensor

from ...layers import grid_size_of, resize_pos_embed

__all__ = ['Converted', 'RESAMPLE_METHODS', 'resample_pos_embed', 'encoder_args',
           'build_encoder', 'build_pool', 'save_converted', 'POOL_PREFIX']

#: How a position table is resampled to another grid: ``'bicubic'`` is LocCaViT's own
#: (mmpretrain's ``resize_pos_embed``, what LocCaViT does on load and what Hugging Face's
#: ``interpolate_pos_encoding`` computes); ``'timm'`` is timm's ``resample_abs_pos_embed``
#: (bicubic, antialiased), what timm does to a pretrained table at another ``img_size``.
RESAMPLE_METHODS = ('bicubic', 'timm')
#: Where a converted MAP pooler goes in an encoder file: ``MAPNeck``'s ``pool``.
POOL_PREFIX = 'neck.pool.'


@dataclass
class Converted:
    """A converted encoder.

    Attributes:
        state_dict: LocCaViT names -> tensors.
        backbone: LocCaViT arguments the weights need (``arch``, ``patch_size``,
            ``img_size`` of the table, ``pos_embed``, ``with_cls_token``, and
            ``act_cfg`` where the MLPs' activation is not the exact GELU).
        notes: What was dropped, folded or resampled, one line each.
        pool: A MAP pooler kept on request (``AttentionPool`` names: ``query``,
            ``attn.q`` ...), or empty.
        neck: ``MAPNeck`` arguments of ``pool`` (``in_channels``, ``num_heads``,
            ``mlp_ratio``, ``act_cfg``), or empty.
    """

    state_dict: Dict[str, Tensor]
    backbone: dict
    notes: List[str] = field(default_factory=list)
    pool: Dict[str, Tensor] = field(default_factory=dict)
    neck: dict = field(default_factory=dict)

    def at_img_size(self, img_size: int, method: str = 'bicubic') -> 'Converted':
        """The same encoder with its position table resampled for ``img_size`` inputs.

        Args:
            img_size: The new input size (square).
            method: One of :data:`RESAMPLE_METHODS`.
        """
        pos = self.state_dict.get('pos_embed')
        if pos is None or self.backbone.get('img_size') == img_size:
            return self
        patch = self.backbone['patch_size']
        grid = (img_size // patch, img_size // patch)
        side = math.isqrt(pos.shape[1])
        state = dict(self.state_dict, pos_embed=resample_pos_embed(pos, grid, method))
        how = 'bicubic' if method == 'bicubic' else "timm's resample_abs_pos_embed"
        note = f'position table resampled from {side}x{side} to {grid[0]}x{grid[1]} ({how})'
        return Converted(state, dict(self.backbone, img_size=grid[0] * patch),
                         self.notes + [note], self.pool, self.neck)


def resample_pos_embed(pos: Tensor, grid: Tuple[int, int], method: str = 'bicubic') -> Tensor:
    """Resample a square [1, n * n, D] table to ``grid``; unchanged if equal.

    ``method`` (:data:`RESAMPLE_METHODS`): ``'bicubic'``, LocCaViT's own resampling
    (mmpretrain's ``resize_pos_embed``, as Hugging Face SigLIP interpolates), or
    ``'timm'``, timm's ``resample_abs_pos_embed`` itself (bicubic with antialiasing; needs
    timm), which is how timm loads a pretrained table at another ``img_size``.

    Raises:
        ValueError: an unknown method, or a table that is not a square grid.
        ImportError: ``'timm'`` without timm installed.
    """
    if method not in RESAMPLE_METHODS:
        raise ValueError(f'resampling method must be one of {RESAMPLE_METHODS}, got {method!r}')
    src = grid_size_of(pos.shape[1])
    if src == tuple(grid):
        return pos
    if method == 'timm':
        try:
            from timm.layers import resample_abs_pos_embed
        except ImportError as e:
            raise ImportError("resampling the way timm does (method='timm') needs timm: "
                              'pip install timm') from e
        return resample_abs_pos_embed(pos, list(grid), list(src), num_prefix_tokens=0)
    return resize_pos_embed(pos, src, tuple(grid), mode='bicubic', num_extra_tokens=0)


def _arch(state: Dict[str, Tensor], num_heads: Optional[int]) -> dict:
    """LocCaViT's ``arch`` dict from the tensor shapes (``num_heads`` is in none of them)."""
    num_layers = len({k.split('.')[1] for k in state if k.startswith('blocks.')})
    return dict(embed_dims=state['patch_embed.proj.weight'].shape[0], num_layers=num_layers,
                num_heads=num_heads,
                feedforward_channels=state['blocks.0.mlp.fc1.weight'].shape[0])


def encoder_args(state: Dict[str, Tensor], num_heads: Optional[int],
                 with_cls_token: bool = False) -> dict:
    """The LocCaViT arguments a state dict in LocCaViT names needs (``arch``, ``patch_size``,
    ``pos_embed``, ``with_cls_token``, ``final_norm``, and ``img_size`` of a learned table)."""
    patch = state['patch_embed.proj.weight'].shape[-1]
    pos = state.get('pos_embed')
    args = dict(arch=_arch(state, num_heads), patch_size=patch,
                pos_embed='learn' if pos is not None else 'sincos2d',
                with_cls_token=with_cls_token, final_norm='norm.weight' in state)
    if pos is not None:
        args['img_size'] = math.isqrt(pos.shape[1]) * patch
    return args


def build_encoder(converted: Converted, num_heads: Optional[int] = None, **kwargs):
    """A ``LocCaViT`` (tokens out, eval mode) holding the converted weights, loaded strictly.

    ``num_heads`` overrides the converted arch's (timm files do not record it;
    any divisor of the width gives the same state dict shapes).

    Raises:
        RuntimeError: the state dict does not fit (keys named by torch).
    """
    from ..locca_vit import LocCaViT
    args = dict(converted.backbone, **kwargs)
    arch = dict(args.pop('arch'))
    arch['num_heads'] = num_heads or arch.get('num_heads') or 1
    model = LocCaViT(arch=arch, **args)
    model.load_state_dict(converted.state_dict, strict=True)
    return model.eval()


def build_pool(converted: Converted):
    """The ``MAPNeck`` (eval mode) holding the converted pooler, loaded strictly; None without.

    Raises:
        RuntimeError: the pooler's state dict does not fit (keys named by torch).
    """
    if not converted.pool:
        return None
    from ...necks.map_neck import MAPNeck
    neck = MAPNeck(**converted.neck)
    neck.pool.load_state_dict(converted.pool, strict=True)
    return neck.eval()


def save_converted(converted: Converted, out: str, source: str) -> str:
    """Check that the weights load into LocCaViT (and the pooler into ``MAPNeck``), then
    write an encoder file: ``backbone.`` keys, and ``neck.pool.`` keys for a kept pooler."""
    from locca_mm.utils.encoder_checkpoint import ENCODER_PREFIX, save_encoder
    build_encoder(converted)
    build_pool(converted)
    meta = dict(source=source, backbone=converted.backbone, notes=converted.notes)
    state = {ENCODER_PREFIX + k: v for k, v in converted.state_dict.items()}
    if converted.pool:
        meta['neck'] = converted.neck
        state.update({POOL_PREFIX + k: v for k, v in converted.pool.items()})
    return save_encoder(state, out, meta, prefix='')
