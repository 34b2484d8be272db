"""tools/dataset_converters/train_tokenizer.py: caption files in, a SentencePiece model out."""
import json

import pytest

from locca_mm.tokenizers import LocCaTokenizer, SentencePieceTokenizer
from tests.conftest import run_tool

TOOL = 'dataset_converters/train_tokenizer.py'


@pytest.fixture
def caption_files(tmp_path, captions):
    txt = tmp_path / 'captions.txt'
    txt.write_text('\n'.join(c.capitalize() for c in captions[:25]) + '\n\n')
    jsonl = tmp_path / 'regions.jsonl'
    jsonl.write_text('\n'.join(
        json.dumps(dict(caption=c, regions=[dict(text='a zebra'), dict(box=[0, 0, 1, 1])]))
        for c in captions[25:]))
    coco = tmp_path / 'captions_train.json'
    coco.write_text(json.dumps(dict(annotations=[dict(image_id=1, caption='a quokka')])))
    return str(txt), str(jsonl), str(coco)


def test_trains_a_model_the_tokenizer_loads(tmp_path, caption_files):
    out = tmp_path / 'models' / 'captions'
    proc = run_tool([TOOL, *caption_files, '--out', str(out),
                     '--vocab-size', '70', '--model-type', 'bpe'], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f'{out}.model'
    assert (tmp_path / 'models' / 'captions.vocab').is_file()
    tok = SentencePieceTokenizer(f'{out}.model', num_bins=8)
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    # Text from all three inputs is in the vocabulary: plain lines, JSONL regions, COCO.
    for text in ('A red dog sitting', 'a zebra', 'a quokka'):
        assert tok.unk_id not in tok.encode(text)
        assert tok.decode(tok.encode(text)) == text
    # The task prefixes spell without the unknown piece.
    locca = LocCaTokenizer(text_tokenizer=tok, box_tokenizer=dict(type='BoxTokenizer',
                                                                  num_bins=8))
    prompt = locca.prompt('gcap', box=[0, 0, 4, 4], img_shape=(8, 8))
    assert locca.text_tokenizer.decode(prompt) == 'GCap:<loc_0><loc_0><loc_4><loc_4>:'


def test_lowercase_model_folds_case(tmp_path, caption_files):
    out = tmp_path / 'lc'
    proc = run_tool([TOOL, caption_files[0], '--out', str(out),
                     '--vocab-size', '50', '--lowercase'], timeout=60)
    assert proc.returncode == 0, proc.stderr
    tok = SentencePieceTokenizer(f'{out}.model')
    assert tok.encode('A RED Dog') == tok.encode('a red dog')
    assert tok.unk_id not in tok.encode('GCap: ARef:')


def _error_line(proc):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'error:' in lines[0], proc.stderr
    return lines[0]


def test_missing_input(tmp_path, caption_files):
    missing = str(tmp_path / 'nowhere.txt')
    proc = run_tool([TOOL, caption_files[0], missing, '--out',
                     str(tmp_path / 'm')], timeout=60)
    assert 'caption file not found' in _error_line(proc) and missing in proc.stderr
    assert not (tmp_path / 'm.model').exists()


def test_empty_corpus_and_bad_records(tmp_path):
    empty = tmp_path / 'empty.jsonl'
    empty.write_text(json.dumps(dict(url='x.jpg')) + '\n')
    proc = run_tool([TOOL, str(empty), '--out', str(tmp_path / 'm')], timeout=60)
    assert 'no captions found' in _error_line(proc)
    broken = tmp_path / 'broken.jsonl'
    broken.write_text(json.dumps(dict(caption='a dog')) + '\n{not json\n')
    proc = run_tool([TOOL, str(broken), '--out', str(tmp_path / 'm')], timeout=60)
    assert 'broken.jsonl:2' in _error_line(proc)


def test_vocabulary_too_large_is_one_line(tmp_path, caption_files):
    proc = run_tool([TOOL, caption_files[0], '--out', str(tmp_path / 'm'),
                     '--vocab-size', '5000'], timeout=60)
    assert 'Vocabulary size too high' in _error_line(proc)
