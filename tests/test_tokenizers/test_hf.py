"""HFTokenizer: a tokenizer.json, its specials reused or appended, nothing added to text."""
import json

import pytest
import torch

from locca_mm.tokenizers import HFTokenizer


def _vocab(path):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(path).get_vocab(with_added_tokens=True)


def test_specials_reused_and_appended(hf_tokenizer_file):
    vocab = _vocab(hf_tokenizer_file)
    size = len(vocab)
    tok = HFTokenizer(hf_tokenizer_file, num_bins=4)
    assert tok.pad_id == vocab['[PAD]'] and tok.eos_id == vocab['[EOS]']
    assert (tok.bos_id, tok.mask_id) == (size, size + 1)
    assert tok.loc_offset == size + 2 and tok.vocab_size == size + 6


def test_round_trip_without_post_processor_or_truncation(hf_tokenizer_file, captions):
    tok = HFTokenizer(hf_tokenizer_file, num_bins=4)
    for caption in captions[:10]:
        ids = tok.encode(caption)
        assert len(ids) > 3  # the file's truncation to 3 is off
        assert tok.eos_id not in ids  # the file's post-processor is not applied
        assert tok.decode(ids) == caption
    assert tok.decode(tok.encode('café 🐕!')) == 'café 🐕!'


def test_special_token_strings_are_text(hf_tokenizer_file):
    tok = HFTokenizer(hf_tokenizer_file)
    ids = tok.encode('a [PAD] and [EOS]')
    assert not set(ids) & tok.special_ids
    assert tok.decode(ids) == 'a [PAD] and [EOS]'


def test_lowercase(hf_tokenizer_file):
    tok = HFTokenizer(hf_tokenizer_file, lowercase=True)
    assert tok.encode('A Red DOG') == tok.encode('a red dog')


def test_custom_token_names_and_unknown(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = ['<unk>', '<pad>', '</s>', 'a', 'dog', 'cat']
    wl = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token='<unk>'))
    wl.pre_tokenizer = pre_tokenizers.Whitespace()
    path = str(tmp_path / 'tokenizer.json')
    wl.save(path)
    tok = HFTokenizer(path, num_bins=2, pad_token='<pad>', eos_token='</s>')
    assert (tok.pad_id, tok.eos_id, tok.unk_id) == (1, 2, 0)
    assert (tok.bos_id, tok.mask_id, tok.loc_offset) == (6, 7, 8)
    assert tok.encode('a horse') == [3, 0]
    mask = tok.text_token_mask()
    assert mask.tolist() == [False, False, False, True, True, True] + [False] * 4
    assert torch.equal(tok.loc_ids(torch.tensor([0, 1])), torch.tensor([8, 9]))


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.json'):
        HFTokenizer(str(tmp_path / 'nothing.json'))


def test_corrupt_file_names_path(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'not': 'a tokenizer'}))
    with pytest.raises(ValueError, match='bad.json'):
        HFTokenizer(str(path))
