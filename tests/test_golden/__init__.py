"""Golden tests: the project against files written by big_vision's own code
(``tests/data/make_golden.py``), loaded through the project's converters."""
import json
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parents[1] / 'data' / 'golden'
BIG_VISION_COMMIT = '0127fb6b337ee2a27bf4e54dea79cff176527356'


def load_golden(name: str):
    """(arrays, config) of ``tests/data/golden/<name>``; checks the big_vision commit."""
    with np.load(GOLDEN / name, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    assert str(arrays.pop('meta/big_vision_commit')) == BIG_VISION_COMMIT
    return arrays, json.loads(str(arrays.pop('meta/config')))


def params_of(arrays: dict) -> dict:
    """The ``params/...`` arrays (big_vision's flattened names, root kept)."""
    return {k: v for k, v in arrays.items() if k.startswith('params/')}
