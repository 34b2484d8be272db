"""locca_mm: LocCa (location-aware captioner pretraining) for OpenMMLab.

Importing the package applies the mmengine 0.10.7 fixes of
:mod:`locca_mm.utils.mmengine_compat` (safe checkpoint loading, CPU
distributed training); the registries fill lazily on first use.
"""
from .utils.mmengine_compat import apply_mmengine_patches
from .version import __version__, version_info

apply_mmengine_patches()

__all__ = ['__version__', 'version_info']
