"""ClipBPETokenizer: open_clip's CLIP BPE ids, readable decoding, its place in LocCaTokenizer;
and the missing-SentencePiece-file message that points to it."""
import importlib.util
import json
import pickle
import shlex
import sys

import pytest
import torch

from locca_mm.tokenizers import (
    ClipBPETokenizer,
    LocCaTokenizer,
    SentencePieceTokenizer,
    build_tokenizer,
    clip_bpe,
)
from tests.conftest import run_tool

HAS_OPEN_CLIP = importlib.util.find_spec('open_clip') is not None
needs_open_clip = pytest.mark.skipif(not HAS_OPEN_CLIP, reason='open_clip_torch not installed')

# Punctuation, contractions, digits, unicode, upper case, HTML entities, odd whitespace.
SENTENCES = [
    'A photo of a cat.',
    'Two DOGS, playing in the snow!',
    "The man's hat (red) costs $20.50?",
    'Café crème brûlée 🍰 — très bon',
    '  multiple   spaces\tand\nnewlines ',
    'Tom &amp; Jerry &lt;3',
    "don't stop: it's 10:30",
    'Ünïcödé ÀÉÎ 東京タワー',
]
# Written the way decoding writes them back, so decode(encode(x)) is the cleaned text.
ROUND_TRIP = [
    'A photo of a cat.',
    'Two DOGS, playing in the snow!',
    "The man's hat (red) is 20.5 cm wide and costs $20.50?",
    'Café crème brûlée 🍰',
    'a New York-based photographer and/or a dog',
    'a sign saying "stop" on a pole...',
    "it's 10:30, isn't it?",
    '東京タワー at night; 1,000 lights',
]


@pytest.fixture(scope='module')
def tok():
    if not HAS_OPEN_CLIP:
        pytest.skip('open_clip_torch not installed')
    return ClipBPETokenizer(num_bins=7)


@pytest.fixture(scope='module')
def open_clip_tokenizer():
    """open_clip's tokenizer module: ``tokenize`` is the function ``open_clip.tokenize``."""
    if not HAS_OPEN_CLIP:
        pytest.skip('open_clip_torch not installed')
    return clip_bpe._open_clip_tokenizer_module()


def test_layout(tok):
    assert tok.text_vocab_size == clip_bpe.CLIP_VOCAB_SIZE == 49408
    assert (tok.bos_id, tok.eos_id) == (49406, 49407)  # <start_of_text>, <end_of_text>
    assert (tok.pad_id, tok.mask_id, tok.loc_offset) == (49408, 49409, 49410)
    assert tok.vocab_size == 49410 + 7
    assert tok.unk_id is None
    # Id 0 is a real piece ('!'), which is why pad is not 0 as in open_clip.
    assert tok.decode([0]) == '!'
    assert tok.text_token_mask()[0]
    assert not tok.text_token_mask()[[49406, 49407, 49408, 49409]].any()


def test_ids_equal_open_clip(tok, open_clip_tokenizer):
    for text in SENTENCES:
        ids = tok.encode(text)
        full = open_clip_tokenizer.tokenize(text)[0]  # <sot> ids <eot>, 0-padded to 77
        n = len(ids) + 2
        assert full[:n].tolist() == [tok.bos_id] + ids + [tok.eos_id], text
        assert not full[n:].any()


def test_round_trip_gives_cleaned_text(tok):
    for text in ROUND_TRIP:
        assert tok.decode(tok.encode(text)) == tok.clean_text(text) == text.lower(), text
    assert tok.clean_text('  Tom &amp;\tJerry ') == 'tom & jerry'
    assert tok.decode(tok.encode('  Tom &amp;\tJerry ')) == 'tom & jerry'
    # What CLIP's encoding forgets comes back written the usual way.
    assert tok.encode('a cat .') == tok.encode('a cat.')
    assert tok.decode(tok.encode('a cat .')) == 'a cat.'


def test_decode_runs_locations_and_specials(tok):
    ids = ([tok.bos_id] + tok.encode('GCap:') + tok.loc_ids(torch.tensor([3, 0])).tolist()
           + tok.encode(': a dog') + [tok.pad_id, tok.mask_id, tok.eos_id] + tok.encode('x'))
    assert tok.decode(ids) == 'gcap:<loc_3><loc_0>: a dog'
    # A sequence cut inside a multi-byte character still decodes.
    assert tok.decode(tok.encode('ᚠ')[:2]) == '\ufffd'


def test_special_strings_are_text(tok):
    ids = tok.encode('a <end_of_text> and <start_of_text>')
    assert not set(ids) & tok.special_ids
    assert '<' in tok.decode(ids) and 'end' in tok.decode(ids)


def test_built_through_registry_and_pickled(tok):
    built = build_tokenizer(dict(type='ClipBPETokenizer', num_bins=7))
    assert isinstance(built, ClipBPETokenizer) and built.vocab_size == tok.vocab_size
    data = pickle.dumps(tok)
    assert len(data) < 10_000  # the merges are reloaded, not shipped to every worker
    copy = pickle.loads(data)
    assert copy.encode(SENTENCES[2]) == tok.encode(SENTENCES[2])
    with pytest.raises(ValueError, match='clean must be one of'):
        ClipBPETokenizer(clean='upper')


@needs_open_clip
def test_inside_locca_tokenizer():
    tok = LocCaTokenizer(text_tokenizer=dict(type='ClipBPETokenizer'),
                         box_tokenizer=dict(type='BoxTokenizer', num_bins=500, order='yxyx'))
    text = tok.text_tokenizer
    assert text.loc_offset == 49410 >= clip_bpe.CLIP_VOCAB_SIZE
    assert text.vocab_size == 49408 + 2 + 500
    h, w = 480, 640
    box = torch.tensor([32.0, 48.0, 320.0, 400.0])
    half_bin = torch.tensor([w, h, w, h]) / 500 / 2 + 1e-4  # a box moves by <= half a bin

    aref = tok.build('aref', 'A red ball, on the grass!', box, (h, w))
    ids = aref.tokens
    # prefix + text + ' :' + 4 locations + eos
    assert tok.text_tokenizer.is_loc(ids[-5:-1]).all() and ids[-1] == text.eos_id
    assert ((tok.parse_box(ids[-5:-1], (h, w)) - box).abs() <= half_bin).all()
    assert tok.parse_text(ids[aref.prefix_len:-6]) == 'a red ball, on the grass!'
    assert text.decode(ids).startswith('aref: a red ball, on the grass!:<loc_')
    assert torch.equal(tok.prompt('aref', 'A red ball, on the grass!'), ids[:-5])

    gcap = tok.build('gcap', 'A red ball, on the grass!', box, (h, w))
    ids = gcap.tokens
    locs = ids[gcap.prefix_len:gcap.prefix_len + 4]
    assert ((tok.parse_box(locs, (h, w)) - box).abs() <= half_bin).all()
    sep = len(text.encode(tok.separator))
    assert tok.parse_text(ids[gcap.prefix_len + 4 + sep:]) == 'a red ball, on the grass!'

    cap = tok.build('cap', 'Two DOGS playing.')
    assert tok.parse_text(cap.tokens[cap.prefix_len:]) == 'two dogs playing.'


def test_missing_open_clip_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'open_clip', None)  # find_spec now reports it absent
    with pytest.raises(ImportError, match='pip install open_clip_torch'):
        ClipBPETokenizer()


# A run_tool prelude: SentencePiece's trainer prints what it was asked (as JSON on stderr)
# instead of training.
_RECORDING_TRAINER = """
import json, sys
import sentencepiece


def _train(sentence_iterator, **kwargs):
    kwargs['captions'] = list(sentence_iterator)
    print('trainer: ' + json.dumps(kwargs), file=sys.stderr)


sentencepiece.SentencePieceTrainer.train = _train
"""


def test_missing_sentencepiece_file_names_both_remedies(tmp_path):
    path = str(tmp_path / 'spm_32k.model')
    with pytest.raises(FileNotFoundError) as info:
        SentencePieceTokenizer(path)
    msg = str(info.value)
    assert 'SentencePiece model file not found' in msg and path in msg
    assert "text_tokenizer=dict(type='ClipBPETokenizer')" in msg
    # The suggested command is one tools/dataset_converters/train_tokenizer.py accepts: run
    # as it is (on a captions file), with SentencePiece's trainer standing in, it makes PATH.
    tool = 'tools/dataset_converters/train_tokenizer.py'
    line = next(x for x in msg.splitlines() if tool in x)
    argv = shlex.split(line.replace('CAPTIONS [CAPTIONS ...]', 'captions.txt')
                       .replace('[--lowercase]', '--lowercase'))
    assert argv[:2] == ['python', tool]
    (tmp_path / 'captions.txt').write_text('A red ball.\nTwo dogs.\n')
    proc = run_tool([argv[1][len('tools/'):], *argv[2:]], cwd=str(tmp_path),
                    prelude=_RECORDING_TRAINER)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == path  # the tool prints PREFIX.model: --out is the prefix
    trained = json.loads(proc.stderr.split('trainer: ', 1)[1].splitlines()[0])
    assert trained['model_prefix'] + '.model' == path and trained['vocab_size'] == 32000
    assert trained['normalization_rule_name'] == 'nmt_nfkc_cf'  # --lowercase
    assert trained['captions'] == ['a red ball.', 'two dogs.']
