"""PaliGemma / Florence-2 JSONL (datasets/vlm_formats.py, JsonlDataset(format=...)): records
in, regions out as LoadRegions and BuildTaskSequences consume them, and back."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from locca_mm.datasets import InvalidRecordError, JsonlDataset
from locca_mm.datasets.transforms import LoadImage, LoadRegions
from locca_mm.datasets.vlm_formats import parse_vlm_record, regions_in_pixels, to_vlm_records
from locca_mm.tokenizers import BoxTokenizer
from locca_mm.tokenizers.box_strings import parse_florence2, parse_paligemma
from locca_mm.utils import register_all_modules
from tests.test_datasets.utils import TOKENIZER, train_pipeline

register_all_modules()

H, W = 60, 80
PG_RECORDS = [
    dict(image='a.png', prefix='caption en', suffix='a red square'),
    dict(image='b.png', prefix='detect square ; circle',
         suffix='<loc0000><loc0000><loc0511><loc0767> square ; '
                '<loc0100><loc0200><loc1023><loc1023> circle'),
    dict(image='a.png', prefix='detect square',
         suffix='<loc0010><loc0020><loc0300><loc0400> square'),
    dict(image='b.png', prefix='caption en <loc0000><loc0000><loc0511><loc0767>',
         suffix='the top left'),
]
FL_RECORDS = [
    dict(image='a.png', prefix='<OD>',
         suffix='square<loc_0><loc_0><loc_500><loc_500>circle<loc_600><loc_100><loc_999><loc_999>'),
    dict(image='a.png', prefix='<CAPTION>', suffix='Two shapes.'),
]


def _write(tmp_path, records, name='train.jsonl'):
    for image in {r['image'] for r in records if isinstance(r, dict) and 'image' in r}:
        Image.new('RGB', (W, H), (200, 30, 30)).save(tmp_path / image)
    path = tmp_path / name
    path.write_text('\n'.join(r if isinstance(r, str) else json.dumps(r) for r in records) + '\n')
    return str(path)


def _dataset(tmp_path, records, fmt, **kwargs):
    return JsonlDataset(ann_file=_write(tmp_path, records), format=fmt,
                        data_prefix=dict(img_path=str(tmp_path)), **kwargs)


def test_paligemma_records_become_one_sample_per_image(tmp_path):
    ds = _dataset(tmp_path, PG_RECORDS, 'paligemma')
    assert len(ds) == 2
    a, b = ds.get_data_info(0), ds.get_data_info(1)
    assert a['source'] == 'train.jsonl:1+3' and b['source'] == 'train.jsonl:2+4'
    assert a['captions'] == ['a red square'] and a['regions']['texts'] == ['square']
    assert b['captions'] == [] and b['regions']['texts'] == ['square', 'circle', 'the top left']
    assert b['regions']['bins'].tolist() == [[0, 0, 511, 767], [100, 200, 1023, 1023],
                                              [0, 0, 511, 767]]
    assert b['regions']['box_preset'] == 'paligemma'


def test_load_regions_decodes_bins_to_pixels(tmp_path):
    ds = _dataset(tmp_path, PG_RECORDS, 'paligemma')
    results = LoadRegions(box_type=None)(LoadImage()(ds.get_data_info(1)))
    expected = BoxTokenizer(preset='paligemma').decode(
        torch.tensor([[0, 0, 511, 767], [100, 200, 1023, 1023], [0, 0, 511, 767]]), (H, W))
    np.testing.assert_allclose(results['gt_bboxes'], expected.numpy())
    # by hand: y2 = 511 / 1023 * 60, x2 = 767 / 1023 * 80; the last bin is the far edge
    np.testing.assert_allclose(results['gt_bboxes'][0], [0, 0, 767 / 1023 * W, 511 / 1023 * H],
                               rtol=1e-6)
    np.testing.assert_allclose(results['gt_bboxes'][1, 2:], [W, H])
    assert 'bins' not in results['regions']


def test_florence2_records_decode_to_bin_centres(tmp_path):
    ds = _dataset(tmp_path, FL_RECORDS, 'florence2')
    assert len(ds) == 1
    info = ds.get_data_info(0)
    assert info['captions'] == ['Two shapes.'] and info['regions']['texts'] == ['square', 'circle']
    pixels = regions_in_pixels(info['regions'], (H, W))['bboxes']
    np.testing.assert_allclose(pixels[0], [0.5 * W / 1000, 0.5 * H / 1000, 500.5 * W / 1000,
                                           500.5 * H / 1000], rtol=1e-6)


@pytest.mark.parametrize('fmt, records', [('paligemma', PG_RECORDS), ('florence2', FL_RECORDS)])
def test_pipeline_builds_task_sequences(tmp_path, fmt, records):
    ds = _dataset(tmp_path, records, fmt, pipeline=train_pipeline(), tokenizer=TOKENIZER)
    sequences = ds[0]['data_samples'].task_sequences
    assert {'cap', 'aref', 'gcap'} <= set(sequences)  # a caption and regions, one sample


@pytest.mark.parametrize('fmt', ['paligemma', 'florence2'])
def test_export_round_trips(fmt):
    """pixels -> records -> regions: the bins written are the preset's, and read back
    they decode to pixels that encode to the same bins."""
    rng = np.random.default_rng(0)
    xs, ys = np.sort(rng.uniform(0, W, (20, 2)), 1), np.sort(rng.uniform(0, H, (20, 2)), 1)
    boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1)
    boxes[0] = [0, 0, W, H]
    boxes[1] = [W - 1, H - 1, W, H]
    texts = [f'shape {i}' for i in range(20)]
    info = dict(img_path='x.png', captions=['a caption'],
                regions=dict(bboxes=boxes.astype(np.float32), texts=texts,
                             scores=np.ones(20, np.float32)))
    records = to_vlm_records(info, (H, W), fmt)
    assert [r['prefix'] for r in records] == (['caption en', 'detect ' + ' ; '.join(texts)]
                                             if fmt == 'paligemma' else ['<CAPTION>', '<OD>'])
    tok = BoxTokenizer(preset=fmt)
    bins = tok.encode(torch.as_tensor(boxes, dtype=torch.float64), (H, W))
    back = [parse_vlm_record(r, f'r{i}', fmt) for i, r in enumerate(records)]
    assert back[0]['captions'] == ['a caption']
    assert back[1]['regions']['texts'] == texts
    assert back[1]['regions']['bins'].tolist() == bins.tolist()
    again = to_vlm_records(dict(img_path='x.png', regions=back[1]['regions']), (H, W), fmt)
    assert again == records[1:]
    parse = parse_paligemma if fmt == 'paligemma' else parse_florence2
    assert parse(records[1]['prefix'], records[1]['suffix']).bins == bins.tolist()


@pytest.mark.parametrize('fmt, line, match', [
    ('paligemma', dict(image='a.png', prefix='segment cat', suffix='x'), 'is none of'),
    ('paligemma', dict(image='a.png', prefix='detect cat',
                       suffix='<loc0001><loc0002><loc0003> cat'), '4 location tokens'),
    ('paligemma', dict(image='a.png', prefix='caption en'), 'missing key "suffix"'),
    ('paligemma', dict(image='a.png', prefix='detect cat', suffix=''), 'nothing to train on'),
    ('florence2', dict(image='a.png', prefix='<OD>', suffix='car<loc_1>'), '1 location tokens'),
    ('florence2', dict(image='a.png', prefix='<OCR>', suffix='text'), 'task is none of'),
])
def test_malformed_records_name_file_and_line(tmp_path, fmt, line, match):
    good = dict(image='b.png', prefix='caption en', suffix='fine') if fmt == 'paligemma' else \
        dict(image='b.png', prefix='<CAPTION>', suffix='Fine.')
    with pytest.raises(InvalidRecordError, match=rf'train\.jsonl:2\b.*{match}'):
        _dataset(tmp_path, [good, line], fmt)
    ds = _dataset(tmp_path, [good, line], fmt, skip_invalid=True)
    assert len(ds) == 1 and ds.num_invalid == 1  # skipped on request, and counted


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match='format must be "locca" or one of'):
        JsonlDataset(ann_file=_write(tmp_path, PG_RECORDS), format='pix2seq')
