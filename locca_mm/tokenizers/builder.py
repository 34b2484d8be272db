"""build_tokenizer: a tokenizer from its config entry (or an object, passed through)."""
from typing import Union

from locca_mm.registry import TOKENIZERS


def build_tokenizer(cfg: Union[dict, object]):
    """Build a tokenizer from a config dict (through ``TOKENIZERS``); pass objects through.

    The model, its heads and the pipeline's ``BuildTaskSequences`` all call
    this with the same config entry (the config's one ``tokenizer``), so they
    share one vocabulary layout.
    """
    if isinstance(cfg, dict):
        return TOKENIZERS.build(cfg)
    if cfg is None:
        raise ValueError('a tokenizer config is required (e.g. dict(type="LocCaTokenizer"))')
    return cfg
