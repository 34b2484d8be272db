"""build_tokenizer (tokenizers/builder.py)."""
import pytest

from locca_mm.tokenizers import ByteTokenizer, build_tokenizer


def test_build_from_a_config_or_pass_an_object_through():
    tok = build_tokenizer(dict(type='ByteTokenizer', num_bins=3))
    assert isinstance(tok, ByteTokenizer)
    assert build_tokenizer(tok) is tok
    with pytest.raises(ValueError, match='a tokenizer config is required'):
        build_tokenizer(None)
