"""Models: encoder, text encoder and decoder, heads, necks, tokenizers and the LocCa model."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .locca import LocCa
from .necks import *  # noqa: F401,F403
from .siglip2 import SigLIP2
from .text import *  # noqa: F401,F403

__all__ = ['LocCa', 'SigLIP2']
