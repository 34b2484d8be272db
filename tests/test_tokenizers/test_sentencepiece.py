"""SentencePieceTokenizer: the model's specials reused, missing ones appended."""
import pytest

from locca_mm.tokenizers import SentencePieceTokenizer


def test_reuses_model_specials(sp_model_file):
    import sentencepiece as spm
    size = spm.SentencePieceProcessor(model_file=sp_model_file).get_piece_size()
    tok = SentencePieceTokenizer(sp_model_file, num_bins=5)
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.mask_id == size  # no mask in the model: the first appended id
    assert tok.loc_offset == size + 1 and tok.vocab_size == size + 6


def test_appends_missing_pad(sp_model_file_no_pad):
    import sentencepiece as spm
    size = spm.SentencePieceProcessor(model_file=sp_model_file_no_pad).get_piece_size()
    tok = SentencePieceTokenizer(sp_model_file_no_pad, num_bins=3)
    assert (tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert (tok.pad_id, tok.mask_id) == (size, size + 1)
    assert tok.loc_offset == size + 2 and tok.vocab_size == size + 5
    # The appended pad is a special: dropped by decode, never generated.
    assert tok.decode([tok.pad_id] + tok.encode('a dog')) == 'a dog'
    assert not tok.text_token_mask()[tok.pad_id]


def test_round_trip(sp_model_file, captions):
    tok = SentencePieceTokenizer(sp_model_file, num_bins=5)
    for caption in captions[:10]:
        assert tok.decode(tok.encode(caption)) == caption
    # Prefix characters are in the vocabulary.
    assert tok.unk_id not in tok.encode('GCap: ARef:')


def test_lowercase(sp_model_file):
    tok = SentencePieceTokenizer(sp_model_file, lowercase=True)
    assert tok.encode('A RED Dog') == tok.encode('a red dog')
    assert tok.unk_id not in tok.encode('A RED Dog')


def test_missing_file_names_path(tmp_path):
    path = str(tmp_path / 'missing.model')
    with pytest.raises(FileNotFoundError, match='missing.model'):
        SentencePieceTokenizer(path)


def test_corrupt_file_names_path(tmp_path):
    path = tmp_path / 'broken.model'
    path.write_bytes(b'not a model')
    with pytest.raises(ValueError, match='broken.model'):
        SentencePieceTokenizer(str(path))
