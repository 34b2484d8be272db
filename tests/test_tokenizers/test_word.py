"""WordTokenizer (models/tokenizers/word.py): a closed word vocabulary."""
import pytest

from locca_mm.tokenizers import WordTokenizer


def test_words_and_marks_round_trip_unknown_words_are_unk():
    tok = WordTokenizer(['a', 'red', 'circle', '.', ':', 'cap'], num_bins=4)
    ids = tok.encode('Cap: a red circle.')
    assert tok.decode(ids) == 'cap: a red circle.'
    assert tok.encode('a blue circle')[1] == tok.unk_id == 4
    assert tok.pad_id == 0 and tok.eos_id == 2


def test_vocabulary_entries_must_be_single_distinct_words():
    with pytest.raises(ValueError, match='single words or marks'):
        WordTokenizer(['red circle'])
    with pytest.raises(ValueError, match='distinct'):
        WordTokenizer(['red', 'Red'])
