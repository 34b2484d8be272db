"""tools/dataset_converters/make_shards.py: JSONL / COCO / VG / RefCOCO / tar pairs -> training
shards, and back."""
import json
import os.path as osp
import re
import tarfile

import numpy as np

from locca_mm.datasets import (
    CocoCaptionDataset,
    JsonlDataset,
    RefCOCODataset,
    ShardedTarDataset,
    VisualGenomeDataset,
)
from tests.conftest import run_tool, tool_error
from tests.test_datasets.utils import DATA, pair_shards


def make_shards(argv) -> dict:
    """Run the tool; the counts it prints last (one JSON line)."""
    proc = run_tool(['dataset_converters/make_shards.py', *map(str, argv)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_shards_error(argv) -> str:
    """Run the tool on bad input: the one ``error:`` line it stops with (exit 1)."""
    return tool_error(run_tool(['dataset_converters/make_shards.py', *map(str, argv)]))


JSONL = [osp.join(DATA, 'jsonl', 'pairs.jsonl'), '--image-root', osp.join(DATA, 'jsonl', 'images')]


def _same_infos(shards, reference):
    """The shard dataset yields the reference dataset's records (image bytes included)."""
    assert len(shards) == len(reference)
    for i in range(len(reference)):
        got, want = shards.get_data_info(i), reference.get_data_info(i)
        assert got['captions'] == want['captions']
        assert got['regions']['texts'] == want['regions']['texts']
        np.testing.assert_allclose(got['regions']['bboxes'], want['regions']['bboxes'], atol=5e-3)
        np.testing.assert_allclose(got['regions']['scores'], want['regions']['scores'], atol=5e-5)
        with open(want['img_path'], 'rb') as f:
            assert got['img_bytes'] == f.read()


def test_jsonl_round_trip(tmp_path):
    written = make_shards(JSONL + ['--out-dir', str(tmp_path), '--samples-per-shard', '3'])
    assert written == dict(images=4, shards=2, kept=0, invalid=0)
    with tarfile.open(tmp_path / 'pairs-000001.tar') as tar:
        assert tar.getnames() == ['000000003.jpg', '000000003.json']
    reference = JsonlDataset(ann_file=JSONL[0], data_prefix=dict(img_path=JSONL[2]))
    _same_infos(ShardedTarDataset(shards=str(tmp_path / 'pairs-{000000..000001}.tar')), reference)
    # Rerun: complete shards are kept, nothing is rewritten.
    again = make_shards(JSONL + ['--out-dir', str(tmp_path), '--samples-per-shard', '3'])
    assert (again['shards'], again['kept'], again['images']) == (0, 2, 0)
    assert json.loads((tmp_path / 'manifest.json').read_text())['totals']['images'] == 4


def test_coco_vg_refcoco_records_merged_per_image(tmp_path):
    coco = osp.join(DATA, 'coco')
    make_shards([f'{coco}/annotations/captions_tiny.json', '--image-root', f'{coco}/images',
                 '--instances', f'{coco}/annotations/instances_tiny.json',
                 '--out-dir', str(tmp_path / 'coco')])
    reference = CocoCaptionDataset(
        ann_file=f'{coco}/annotations/captions_tiny.json',
        data_prefix=dict(img_path=f'{coco}/images'),
        instances_file=f'{coco}/annotations/instances_tiny.json')
    shards = ShardedTarDataset(shards=str(tmp_path / 'coco' / '*.tar'))
    _same_infos(shards, reference)
    assert len(shards.get_data_info(0)['captions']) > 1  # every caption of the image kept
    vg = osp.join(DATA, 'vg')
    make_shards([f'{vg}/region_descriptions.json', '--image-data', f'{vg}/image_data.json',
                 '--image-root', vg, '--out-dir', str(tmp_path / 'vg')])
    _same_infos(ShardedTarDataset(shards=str(tmp_path / 'vg' / '*.tar')), VisualGenomeDataset(
        ann_file=f'{vg}/region_descriptions.json', image_data_file=f'{vg}/image_data.json',
        data_prefix=dict(img_path=vg)))
    ref = osp.join(DATA, 'refcoco')
    make_shards([f'{ref}/instances.json', '--refs', f'{ref}/refs(unc).p', '--split', 'train',
                 '--image-root', f'{ref}/train2014', '--out-dir', str(tmp_path / 'ref')])
    expressions = RefCOCODataset(ann_file=f'{ref}/instances.json', split_file=f'{ref}/refs(unc).p',
                                 split='train', data_prefix=dict(img_path=f'{ref}/train2014'))
    shards = ShardedTarDataset(shards=str(tmp_path / 'ref' / '*.tar'))
    images = {expressions.get_data_info(i)['img_path'] for i in range(len(expressions))}
    assert len(shards) == len(images)
    texts = [t for i in range(len(shards)) for t in shards.get_data_info(i)['regions']['texts']]
    assert sorted(texts) == sorted(expressions.get_data_info(i)['regions']['texts'][0]
                                   for i in range(len(expressions)))


def test_ranks_write_disjoint_shards_whose_union_is_the_single_run(tmp_path):
    make_shards(JSONL + ['--out-dir', str(tmp_path / 'one'), '--samples-per-shard', '1'])
    for rank in range(2):
        make_shards(JSONL + ['--out-dir', str(tmp_path / 'two'), '--samples-per-shard', '1',
                             '--rank', str(rank), '--world-size', '2'])
        names = sorted(p.name for p in (tmp_path / 'two').glob('*.tar'))
        assert names == [f'pairs-{k:06d}.tar' for k in range(4) if k % 2 == 0 or rank == 1]
    for k in range(4):
        name = f'pairs-{k:06d}.tar'
        assert (tmp_path / 'two' / name).read_bytes() == (tmp_path / 'one' / name).read_bytes()
    err = make_shards_error(JSONL + ['--out-dir', str(tmp_path), '--rank', '2',
                                     '--world-size', '2'])
    assert re.search('rank 2 of world size 2', err), err


def test_tar_pairs_resharded(tmp_path):
    pattern = pair_shards(tmp_path / 'in')  # 4 shards x 3 pairs
    written = make_shards([pattern, '--out-dir', str(tmp_path / 'out'),
                           '--samples-per-shard', '5'])
    assert (written['images'], written['shards']) == (12, 3)
    shards = ShardedTarDataset(shards=str(tmp_path / 'out' / 'pairs-*.tar'))
    info = shards.get_data_info(1)
    assert info['captions'] == ['red car'] and len(info['regions']['texts']) == 0  # from .json
    with open(tmp_path / 'out' / 'pairs-000000.tar', 'rb') as f, \
            tarfile.open(fileobj=f) as tar:
        record = json.loads(tar.extractfile('000000001.json').read())
    assert record['image'] == 'pairs-000000.tar:00000001' and record['url'].endswith('1.jpg')


def test_bad_input_named_or_skipped(tmp_path):
    import shutil
    shutil.copytree(osp.join(DATA, 'jsonl', 'images'), tmp_path / 'images')
    lines = open(JSONL[0]).read().splitlines()
    (tmp_path / 'images' / '0.jpg').unlink()
    (tmp_path / 'good.jsonl').write_text('\n'.join(lines) + '\n')
    (tmp_path / 'bad.jsonl').write_text('\n'.join(lines + ['{"image": "x.jpg", "caption": ""}']))
    def args(name, *extra):
        return [str(tmp_path / name), '--image-root', str(tmp_path / 'images'),
                '--out-dir', str(tmp_path / name.replace('.', '_')), *extra]

    err = make_shards_error(args('bad.jsonl'))
    assert re.search(r'bad.jsonl:5: empty caption', err), err
    err = make_shards_error(args('good.jsonl'))
    assert re.search(r'cannot read image .*0.jpg \(good.jsonl:1\)', err), err
    assert not list((tmp_path / 'good_jsonl').glob('*.tar'))  # the failing shard is absent
    written = make_shards(args('bad.jsonl', '--skip-invalid'))
    assert (written['images'], written['invalid']) == (3, 2)
