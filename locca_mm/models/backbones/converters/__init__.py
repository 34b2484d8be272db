"""Foreign ViT checkpoints <-> ``LocCaViT`` state dicts (big_vision ``.npz``, timm,
Hugging Face SigLIP).

``big_vision_to_locca``, ``timm_to_locca`` and ``hf_siglip_to_locca`` return a
:class:`Converted`: the state dict in LocCaViT names, the LocCaViT arguments it
needs (``arch`` etc.), notes on what was dropped or changed and, on request
(``keep_pool``), a SigLIP MAP head as ``MAPNeck.pool``. ``locca_to_timm`` and
``locca_to_hf`` go the other way and return a :class:`TimmExport` /
:class:`HFExport`. ``tools/model_converters/`` wraps them and writes
encoder files that the transfer configs load with ``prefix='backbone.'``.

One module per direction, each with its key mapping in its docstring:

- :mod:`.big_vision`: big_vision ``models/vit.py`` -> LocCaViT, and
  :func:`big_vision_vit_forward`, big_vision's forward on its own parameters;
- :mod:`.from_timm`: timm ``VisionTransformer`` -> LocCaViT;
- :mod:`.to_timm`: LocCaViT (and a MAP pooler) -> timm ``VisionTransformer``;
- :mod:`.from_hf`: Hugging Face ``SiglipVisionModel`` / ``SiglipModel`` -> LocCaViT;
- :mod:`.to_hf`: LocCaViT (and a MAP pooler) -> ``SiglipVisionModel``;
- :mod:`.common`: :class:`Converted`, resampling, building and saving a converted encoder.

Position tables are kept at their own grid; :meth:`Converted.at_img_size`
resamples them: ``'bicubic'`` as LocCaViT does on load from another grid (and as
Hugging Face interpolates), ``'timm'`` with timm's own ``resample_abs_pos_embed``.
NaFlex checkpoints (SigLIP 2's variable-resolution variant) stop with
:data:`NAFLEX_ERROR`.
"""
from .big_vision import FLAX_GELU, big_vision_to_locca, big_vision_vit_forward
from .common import (
    POOL_PREFIX,
    RESAMPLE_METHODS,
    Converted,
    build_encoder,
    build_pool,
    resample_pos_embed,
    save_converted,
)
from .from_hf import HF_ACTIVATIONS, hf_siglip_to_locca, hf_siglip_to_siglip2, hf_vision_config
from .from_timm import NAFLEX_ERROR, timm_to_locca
from .to_hf import HFExport, locca_to_hf
from .to_timm import TimmExport, locca_to_timm

__all__ = [
    'Converted', 'FLAX_GELU', 'big_vision_to_locca', 'timm_to_locca', 'resample_pos_embed',
    'big_vision_vit_forward', 'build_encoder', 'build_pool', 'save_converted', 'TimmExport',
    'locca_to_timm', 'hf_siglip_to_locca', 'hf_siglip_to_siglip2', 'hf_vision_config',
    'HF_ACTIVATIONS', 'HFExport', 'locca_to_hf', 'NAFLEX_ERROR', 'POOL_PREFIX', 'RESAMPLE_METHODS'
]
