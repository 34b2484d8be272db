"""JsonlDataset (datasets/jsonl.py): one image-text pair with regions per line."""
import json
import os.path as osp

import numpy as np
import pytest

from locca_mm.datasets import (
    InvalidRecordError,
    JsonlDataset,
)
from locca_mm.datasets.jsonl import MAX_LINE_BYTES
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, train_pipeline

register_all_modules()


def test_jsonl_pairs():
    ds = JsonlDataset(ann_file=osp.join(DATA, 'jsonl', 'pairs.jsonl'),
                      data_prefix=dict(img_path=osp.join(DATA, 'jsonl', 'images')),
                      pipeline=train_pipeline(), tokenizer=TOKENIZER)
    with open(osp.join(DATA, 'jsonl', 'pairs.jsonl')) as f:
        records = [json.loads(line) for line in f]
    assert len(ds) == len(records) == 4
    for i, rec in enumerate(records):
        info = ds.get_data_info(i)
        assert info['captions'] == [rec['caption']]
        np.testing.assert_allclose(info['regions']['bboxes'],
                                   [r['bbox'] for r in rec['regions']])
        np.testing.assert_allclose(info['regions']['scores'], [r['score'] for r in rec['regions']])
        assert info['source'] == f'pairs.jsonl:{i + 1}'


def _line_of(n_bytes: int, pad: str = 'a') -> bytes:
    """A valid record whose JSON line is exactly ``n_bytes`` long (UTF-8, no newline)."""
    record = {'image': '0.jpg', 'caption': ''}
    base = len(json.dumps(record, ensure_ascii=False).encode())
    width = len(pad.encode())
    fill, rest = divmod(n_bytes - base, width)
    record['caption'] = pad * fill + 'a' * rest
    line = json.dumps(record, ensure_ascii=False).encode()
    assert len(line) == n_bytes
    return line


def _jsonl_with(tmp_path, middle: bytes) -> str:
    path = tmp_path / 'long.jsonl'
    path.write_bytes(b'\n'.join([_line_of(60), middle, _line_of(60)]) + b'\n')
    return str(path)


@pytest.mark.parametrize('pad', ['a', '\u00e9'], ids=['ascii', 'two-byte-utf8'])
def test_line_of_exactly_the_limit_is_accepted(tmp_path, pad):
    assert MAX_LINE_BYTES == 1 << 20  # docs/en/user_guides/data.md promises 1 MiB
    line = _line_of(MAX_LINE_BYTES, pad)
    ds = JsonlDataset(ann_file=_jsonl_with(tmp_path, line))
    assert len(ds) == 3 and ds.num_invalid == 0
    info = ds.get_data_info(1)
    assert info['captions'] == [json.loads(line)['caption']]
    assert info['source'] == 'long.jsonl:2'


@pytest.mark.parametrize('pad', ['a', '\u00e9'], ids=['ascii', 'two-byte-utf8'])
def test_line_over_the_limit_names_file_and_line(tmp_path, pad):
    path = _jsonl_with(tmp_path, _line_of(MAX_LINE_BYTES + 1, pad))
    message = f'long.jsonl:2: line of {MAX_LINE_BYTES + 1} bytes exceeds {MAX_LINE_BYTES} bytes'
    with pytest.raises(InvalidRecordError, match=f'^{message}$'):
        JsonlDataset(ann_file=path)
    ds = JsonlDataset(ann_file=path, skip_invalid=True)
    assert len(ds) == 2 and ds.num_invalid == 1
    assert [ds.get_data_info(i)['source'] for i in range(2)] == ['long.jsonl:1', 'long.jsonl:3']
