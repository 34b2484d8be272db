"""build_tokenizer, and the model tokenizer that datasets built after the model default to."""
import copy
from typing import Optional, Union

from locca_mm.registry import TOKENIZERS

_MODEL_TOKENIZER: Optional[Union[dict, object]] = None


def build_tokenizer(cfg: Union[dict, object]):
    """Build a tokenizer from a config dict (through ``TOKENIZERS``); pass objects through.

    The model, its heads and the pipeline's ``BuildTaskSequences`` all call
    this with the same config entry, so they share one vocabulary layout.
    """
    if isinstance(cfg, dict):
        return TOKENIZERS.build(cfg)
    if cfg is None:
        raise ValueError('a tokenizer config is required (e.g. dict(type="LocCaTokenizer"))')
    return cfg


def set_model_tokenizer(cfg: Union[dict, object, None]) -> None:
    """Make ``cfg`` the tokenizer of data pipelines built from now on without one.

    :class:`~locca_mm.models.LocCa` calls this when it is built. An mmengine
    ``Runner`` builds its model before its dataloaders, so a config's
    ``BuildTaskSequences`` tokenises exactly as its model decodes with no
    ``tokenizer`` entry in the dataset config, also under a plain
    ``Runner.from_cfg`` or another package's ``tools/train.py`` (the same
    "current instance" idea as mmengine's ``MessageHub`` and ``Visualizer``).
    A dataset or transform given ``tokenizer=...`` keeps its own.
    """
    global _MODEL_TOKENIZER
    _MODEL_TOKENIZER = copy.deepcopy(cfg)


def model_tokenizer() -> Optional[Union[dict, object]]:
    """A copy of the tokenizer set by :func:`set_model_tokenizer` (None before any model)."""
    return copy.deepcopy(_MODEL_TOKENIZER)
