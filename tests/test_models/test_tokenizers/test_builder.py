"""build_tokenizer and the model tokenizer (models/tokenizers/builder.py)."""
import pytest

from locca_mm.models.tokenizers import ByteTokenizer, build_tokenizer
from locca_mm.models.tokenizers.builder import model_tokenizer, set_model_tokenizer


def test_build_from_a_config_or_pass_an_object_through():
    tok = build_tokenizer(dict(type='ByteTokenizer', num_bins=3))
    assert isinstance(tok, ByteTokenizer)
    assert build_tokenizer(tok) is tok
    with pytest.raises(ValueError, match='a tokenizer config is required'):
        build_tokenizer(None)


def test_the_model_tokenizer_is_a_copy_of_what_was_set():
    before = model_tokenizer()
    cfg = dict(type='ByteTokenizer', num_bins=3)
    try:
        set_model_tokenizer(cfg)
        cfg['num_bins'] = 9  # later changes to the caller's dict do not leak in
        got = model_tokenizer()
        assert got == dict(type='ByteTokenizer', num_bins=3)
        got['num_bins'] = 7
        assert model_tokenizer()['num_bins'] == 3
    finally:
        set_model_tokenizer(before)
