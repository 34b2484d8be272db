"""locca_mm: LocCa (location-aware captioner pretraining) for OpenMMLab.

Importing the package applies the mmengine 0.10.7 fixes of
:mod:`locca_mm.utils.mmengine_compat` (safe checkpoint loading, CPU
distributed training); the registries fill lazily on first use.
"""
import torch

from .version import MIN_TORCH, __version__, version_info

if tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]) < MIN_TORCH:
    raise ImportError(
        f'locca_mm needs torch >= {".".join(map(str, MIN_TORCH))} (safe checkpoint loading '
        f'with torch.serialization.add_safe_globals); this is torch {torch.__version__}')

from .utils.mmengine_compat import apply_mmengine_patches  # noqa: E402

apply_mmengine_patches()

__all__ = ['__version__', 'version_info']
