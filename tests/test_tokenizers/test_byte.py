"""ByteTokenizer: fixed ids, any text."""
import torch

from locca_mm.tokenizers import ByteTokenizer


def test_ids():
    tok = ByteTokenizer(num_bins=100)
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.mask_id) == (0, 1, 2, 3)
    assert tok.loc_offset == 260 and tok.vocab_size == 360
    assert tok.encode('A ') == [65 + 4, 32 + 4]
    assert tok.encode('é') == [0xC3 + 4, 0xA9 + 4]
    assert tok.loc_ids(torch.tensor([0, 99])).tolist() == [260, 359]
    assert int(tok.text_token_mask().sum()) == 256


def test_round_trip_non_ascii():
    tok = ByteTokenizer(num_bins=10)
    for text in ('a dog on the left', 'café 東京 🐕', '  spaces kept  ', '<loc_5> is text'):
        assert tok.decode(tok.encode(text)) == text


def test_broken_utf8_is_replaced_not_raised():
    tok = ByteTokenizer()
    cut = tok.encode('東')[:2]  # the first two of three bytes
    assert tok.decode(cut) == '\ufffd'


def test_lowercase():
    assert ByteTokenizer(lowercase=True).encode('A Dog') == ByteTokenizer().encode('a dog')
