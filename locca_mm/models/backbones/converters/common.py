"""What the converters share: the result type, the encoder arguments read off the
tensors, and building / saving a converted encoder."""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from torch import Tensor

from ...layers import grid_size_of, resize_pos_embed

__all__ = ['Converted', 'resample_pos_embed', 'encoder_args', 'build_encoder',
           'save_converted']


@dataclass
class Converted:
    """A converted encoder.

    Attributes:
        state_dict: LocCaViT names -> tensors.
        backbone: LocCaViT arguments the weights need (``arch``, ``patch_size``,
            ``img_size`` of the table, ``pos_embed``, ``with_cls_token``, and
            ``act_cfg`` where the MLPs' activation is not the exact GELU).
        notes: What was dropped, folded or resampled, one line each.
    """

    state_dict: Dict[str, Tensor]
    backbone: dict
    notes: List[str] = field(default_factory=list)

    def at_img_size(self, img_size: int) -> 'Converted':
        """The same encoder with its position table resampled for ``img_size`` inputs."""
        pos = self.state_dict.get('pos_embed')
        if pos is None or self.backbone.get('img_size') == img_size:
            return self
        patch = self.backbone['patch_size']
        grid = (img_size // patch, img_size // patch)
        side = math.isqrt(pos.shape[1])
        state = dict(self.state_dict, pos_embed=resample_pos_embed(pos, grid))
        note = f'position table resampled from {side}x{side} to {grid[0]}x{grid[1]} (bicubic)'
        return Converted(state, dict(self.backbone, img_size=grid[0] * patch),
                         self.notes + [note])


def resample_pos_embed(pos: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Resample a square [1, n * n, D] table to ``grid`` (bicubic); unchanged if equal."""
    src = grid_size_of(pos.shape[1])
    if src == tuple(grid):
        return pos
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


def save_converted(converted: Converted, out: str, source: str) -> str:
    """Check that the weights load into LocCaViT, then write an encoder file (``backbone.``)."""
    from locca_mm.utils.encoder_checkpoint import save_encoder
    build_encoder(converted)
    meta = dict(source=source, backbone=converted.backbone, notes=converted.notes)
    return save_encoder(converted.state_dict, out, meta)
