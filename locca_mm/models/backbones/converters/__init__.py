"""Foreign ViT checkpoints <-> ``LocCaViT`` state dicts (big_vision ``.npz``, timm).

``big_vision_to_locca`` and ``timm_to_locca`` return a :class:`Converted`: the
state dict in LocCaViT names, the LocCaViT arguments it needs (``arch`` etc.)
and notes on what was dropped or changed. ``locca_to_timm`` goes the other way
and returns a :class:`TimmExport`. ``tools/model_converters/`` wraps them and writes
encoder files that the transfer configs load with ``prefix='backbone.'``.

One module per direction, each with its key mapping in its docstring:

- :mod:`.big_vision`: big_vision ``models/vit.py`` -> LocCaViT, and
  :func:`big_vision_vit_forward`, big_vision's forward on its own parameters;
- :mod:`.from_timm`: timm ``VisionTransformer`` -> LocCaViT;
- :mod:`.to_timm`: LocCaViT (and a MAP pooler) -> timm ``VisionTransformer``;
- :mod:`.common`: :class:`Converted`, building and saving a converted encoder.

Position tables are kept at their own grid; :meth:`Converted.at_img_size`
resamples them (bicubic, as LocCaViT does on load from another grid).
"""
from .big_vision import FLAX_GELU, big_vision_to_locca, big_vision_vit_forward
from .common import Converted, build_encoder, resample_pos_embed, save_converted
from .from_timm import timm_to_locca
from .to_timm import TimmExport, locca_to_timm

__all__ = [
    'Converted', 'FLAX_GELU', 'big_vision_to_locca', 'timm_to_locca', 'resample_pos_embed',
    'big_vision_vit_forward', 'build_encoder', 'save_converted', 'TimmExport', 'locca_to_timm'
]
