"""TextTokenizer (models/tokenizers/base.py), what every text tokenizer guarantees: vocabulary
layout, location tokens, decoding."""
import importlib.util
import pickle

import pytest
import torch

from locca_mm.tokenizers import (
    ByteTokenizer,
    ClipBPETokenizer,
    HFTokenizer,
    SentencePieceTokenizer,
    TextTokenizer,
)

K = 7


@pytest.fixture(params=['byte', 'sentencepiece', 'hf', 'clip_bpe'])
def tok(request) -> TextTokenizer:
    if request.param == 'byte':
        return ByteTokenizer(num_bins=K)
    if request.param == 'clip_bpe':
        if importlib.util.find_spec('open_clip') is None:
            pytest.skip('open_clip_torch not installed')
        return ClipBPETokenizer(num_bins=K)
    if request.param == 'sentencepiece':
        return SentencePieceTokenizer(request.getfixturevalue('sp_model_file'), num_bins=K)
    return HFTokenizer(request.getfixturevalue('hf_tokenizer_file'), num_bins=K)


def test_layout(tok):
    specials = [tok.pad_id, tok.bos_id, tok.eos_id, tok.mask_id]
    assert len(set(specials)) == 4
    assert tok.special_ids == frozenset(specials)
    assert all(0 <= i < tok.loc_offset for i in specials)
    assert tok.num_bins == K
    # Location tokens are the last K ids.
    assert tok.vocab_size == tok.loc_offset + K
    assert tok.loc_ids(torch.arange(K)).tolist() == list(range(tok.vocab_size - K,
                                                               tok.vocab_size))


def test_round_trip(tok):
    text = 'a red dog sitting on the grass'
    ids = tok.encode(text)
    assert ids and all(0 <= i < tok.loc_offset for i in ids)
    assert not set(ids) & tok.special_ids  # no bos/eos added
    assert tok.decode(ids) == text
    assert tok.decode(torch.tensor(ids)) == text


def test_loc_text_stays_text(tok):
    ids = tok.encode('<loc_5>')
    assert not tok.is_loc(torch.tensor(ids)).any()


def test_decode_renders_loc_drops_specials_stops_at_eos(tok):
    ids = ([tok.bos_id] + tok.encode('a dog') + tok.loc_ids(torch.tensor([3, 0])).tolist()
           + [tok.pad_id, tok.mask_id] + [tok.eos_id] + tok.encode('a cat'))
    assert tok.decode(ids) == 'a dog<loc_3><loc_0>'
    assert tok.batch_decode(torch.tensor([ids, ids])) == ['a dog<loc_3><loc_0>'] * 2
    with pytest.raises(ValueError, match='outside the vocabulary'):
        tok.decode([tok.vocab_size])


def test_loc_ids_bins_is_loc(tok):
    bins = torch.tensor([[0, 6], [2, 3]])
    ids = tok.loc_ids(bins)
    assert ids.shape == (2, 2)
    assert tok.is_loc(ids).all()
    assert torch.equal(tok.loc_bins(ids), bins)
    text_ids = torch.tensor(tok.encode('a dog') + [tok.eos_id])
    assert not tok.is_loc(text_ids).any()
    for bad in (-1, K):
        with pytest.raises(ValueError, match=r'\[0, 7\)'):
            tok.loc_ids(torch.tensor([bad]))
    with pytest.raises(ValueError, match='not location token ids'):
        tok.loc_bins(text_ids)


def test_text_token_mask(tok):
    mask = tok.text_token_mask()
    assert mask.dtype == torch.bool and mask.shape == (tok.vocab_size,)
    assert not mask[sorted(tok.special_ids)].any()
    assert not mask[tok.loc_offset:].any()
    assert mask[tok.encode('a red dog sitting')].all()
    if tok.unk_id is not None:
        assert not mask[tok.unk_id]


def test_pickle_keeps_behaviour(tok):
    """Data workers receive the tokenizer pickled."""
    copy = pickle.loads(pickle.dumps(tok))
    text = 'a kite [PAD] flying <loc_1>'
    assert copy.encode(text) == tok.encode(text)
    assert copy.vocab_size == tok.vocab_size


def test_encode_rejects_non_str(tok):
    with pytest.raises(TypeError, match='str'):
        tok.encode(['a', 'dog'])


def test_no_loc_tokens_by_default():
    tok = ByteTokenizer()
    assert tok.vocab_size == tok.loc_offset == 260
    with pytest.raises(ValueError, match='num_bins=0'):
        tok.loc_ids(torch.tensor([0]))
    with pytest.raises(ValueError, match='num_bins'):
        ByteTokenizer(num_bins=-1)
