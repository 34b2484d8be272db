"""locca_mm: LocCa (location-aware captioner pretraining) for OpenMMLab.

Importing the package changes nothing outside it but one entry: mmengine's
table of packages whose configs ``_base_ = ['<package>::<path>']`` may name
(``mmengine.config.utils.MODULE2PACKAGE``) gains ``'locca_mm'``. The registries
fill lazily on first use, and the mmengine 0.10.7 fixes this package's tools
rely on are applied only by :func:`locca_mm.compat.apply_runtime_fixes` (which
the tools call).
"""
import torch

from .version import MIN_TORCH, __version__, version_info

if tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]) < MIN_TORCH:
    raise ImportError(
        f'locca_mm needs torch >= {".".join(map(str, MIN_TORCH))} (safe checkpoint loading '
        f'with torch.serialization.safe_globals); this is torch {torch.__version__}')



def _register_config_prefix() -> None:
    """Let configs inherit ``locca_mm::<dir>/<config>.py`` (``locca_mm/.mim/configs``)."""
    from mmengine.config import utils
    utils.MODULE2PACKAGE.setdefault('locca_mm', 'locca_mm')


_register_config_prefix()

__all__ = ['__version__', 'version_info']
