"""Bad records (datasets/base.py, InvalidRecordError and skip_invalid): a clear error
naming file and record, or skipped and counted."""
import io
import json
import os.path as osp
import shutil

import pytest

from locca_mm.datasets import InvalidRecordError, JsonlDataset
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import DATA, TOKENIZER, train_pipeline

register_all_modules()
GOOD = {'image': '0.jpg', 'caption': 'a red circle', 'width': 64, 'height': 48,
        'regions': [{'bbox': [4, 6, 24, 26], 'text': 'red circle', 'score': 0.9}]}


def _jsonl(tmp_path, bad_line: bytes, position: int = 2) -> str:
    images = tmp_path / 'images'
    if not images.exists():
        shutil.copytree(osp.join(DATA, 'jsonl', 'images'), images)
    lines = [json.dumps(GOOD).encode()] * 4
    lines.insert(position, bad_line)
    path = tmp_path / 'data.jsonl'
    path.write_bytes(b'\n'.join(lines) + b'\n')
    return str(path)


def _dataset(path, skip):
    return JsonlDataset(ann_file=path, data_prefix=dict(img_path=osp.join(osp.dirname(path),
                                                                          'images')),
                        pipeline=train_pipeline(), tokenizer=TOKENIZER, skip_invalid=skip)


# Records that are bad as soon as the annotation file is read.
ANNOTATION_CASES = {
    'missing key': (json.dumps({'caption': 'no image'}).encode(), 'missing key "image"'),
    'empty caption': (json.dumps(dict(GOOD, caption='  ')).encode(), 'empty caption'),
    'non-UTF-8': (b'{"image": "0.jpg", "caption": "caf\xe9"}', 'not UTF-8'),
    'zero-width box': (json.dumps(dict(GOOD, regions=[{'bbox': [5, 5, 5, 9], 'text': 't'}]))
                       .encode(), 'width or height <= 0'),
    'box outside image': (json.dumps(dict(GOOD, regions=[{'bbox': [70, 5, 90, 9],
                                                          'text': 't'}])).encode(),
                          'outside the 64x48 image'),
    'malformed JSON': (b'{"image": "0.jpg", ', 'malformed JSON'),
}


@pytest.mark.parametrize('case', sorted(ANNOTATION_CASES))
def test_bad_annotation_strict_names_file_and_line(tmp_path, case):
    line, message = ANNOTATION_CASES[case]
    with pytest.raises(InvalidRecordError, match=f'data.jsonl:3: .*{message}'):
        _dataset(_jsonl(tmp_path, line), skip=False)


@pytest.mark.parametrize('case', sorted(ANNOTATION_CASES))
def test_bad_annotation_skipped_and_counted(tmp_path, case):
    ds = _dataset(_jsonl(tmp_path, ANNOTATION_CASES[case][0]), skip=True)
    assert len(ds) == 4 and ds.num_invalid == 1


def _corrupt_jpeg(tmp_path):
    good = (tmp_path / 'images' / '0.jpg').read_bytes()
    (tmp_path / 'images' / 'broken.jpg').write_bytes(good[:len(good) // 2])


# Records that are bad only once a worker reads the image.
IMAGE_CASES = {
    'missing image': (dict(GOOD, image='absent.jpg'), None, 'cannot read image'),
    'corrupt JPEG': (dict(GOOD, image='broken.jpg'), _corrupt_jpeg, 'cannot decode image'),
    'box outside decoded image': (
        {'image': '0.jpg', 'regions': [{'bbox': [70, 0, 80, 10], 'text': 'x'}]}, None,
        'outside the 64x48 image'),
}


@pytest.mark.parametrize('case', sorted(IMAGE_CASES))
def test_bad_image_strict_names_file_and_record(tmp_path, case):
    record, prepare, message = IMAGE_CASES[case]
    ds = _dataset(_jsonl(tmp_path, json.dumps(record).encode()), skip=False)
    if prepare:
        prepare(tmp_path)
    assert ds[0]['data_samples'].task_sequences  # good records still load
    with pytest.raises(InvalidRecordError, match=f'data.jsonl:3: .*{message}'):
        ds[2]


@pytest.mark.parametrize('case', sorted(IMAGE_CASES))
def test_bad_image_skipped_and_counted(tmp_path, case):
    record, prepare, _ = IMAGE_CASES[case]
    ds = _dataset(_jsonl(tmp_path, json.dumps(record).encode()), skip=True)
    if prepare:
        prepare(tmp_path)
    sample = ds[2]['data_samples']  # replaced by the next record
    assert sample.metainfo['source'] == 'data.jsonl:4'
    assert sample.metainfo['data_stats']['skipped_invalid'] == 1


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    from PIL import Image
    buf = io.BytesIO()
    Image.new('L', (20000, 20000)).save(buf, format='PNG')  # ~30 KB, 400 Mpx when decoded
    (tmp_path / 'images').mkdir()
    (tmp_path / 'images' / 'bomb.png').write_bytes(buf.getvalue())
    record = {'image': 'bomb.png', 'caption': 'a bomb'}
    ds = _dataset(_jsonl(tmp_path, json.dumps(record).encode()), skip=False)
    with pytest.raises(InvalidRecordError, match='bomb.png refused before decoding'):
        ds[2]
    # Our own limit applies below Pillow's, from the header alone.
    from locca_mm.datasets.transforms import LoadImage
    with open(osp.join(DATA, 'jsonl', 'images', '0.jpg'), 'rb') as f:
        small = f.read()
    with pytest.raises(InvalidRecordError, match=r'64x48 = 3072 pixels, more than max_pixels'):
        LoadImage(max_pixels=1000)(dict(img_bytes=small, img_path='0.jpg', source='s#1'))


@pytest.mark.parametrize('box,size', [
    ([0, 0, 1, 5e-324], (2, 2)),     # a denormal height: zero once flushed or in float32
    ([0, 0, 0.005, 1], (2, 2)),      # thinner than MIN_BOX_SIZE
    ([-1, 0, 0.004, 1], (2, 2)),     # reaches into the image by less than MIN_BOX_SIZE
    ([1.996, 0, 3, 1], (2, 2)),      # likewise at the right edge
])
def test_degenerate_or_barely_overlapping_boxes_are_invalid(box, size):
    from locca_mm.datasets.base import InvalidRecordError, check_box
    with pytest.raises(InvalidRecordError, match='rec.jsonl:1'):
        check_box(box, 'rec.jsonl:1', width=size[0], height=size[1])
    assert check_box([0, 0, 0.01, 0.01], 'rec.jsonl:1', width=2, height=2) == [0, 0, 0.01, 0.01]
