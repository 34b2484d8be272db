"""tools/dataset_converters/pseudo_label.py --out-dir: one training shard per input shard,
resumable, distributed (in-process runs call locca_mm.cli.pseudo_label, what the tool runs)."""
import json
import os
import os.path as osp
import shutil
import tarfile

import numpy as np
import pytest

from locca_mm.cli import SetupError
from locca_mm.datasets import ShardedTarDataset
from locca_mm.labeling.shard_labeling import LabelUnit, UnitStream, _to_original
from tests.conftest import free_port, run_tool
from tests.test_apis.test_pseudo_label import CAPTIONS, _save_tiny_owl
from tests.test_datasets.utils import jpeg_bytes, pair_shards, write_tar

pytest.importorskip('transformers')


@pytest.fixture(scope='module')
def owl(tmp_path_factory) -> str:
    return _save_tiny_owl(str(tmp_path_factory.mktemp('owl')))


def _tool():
    """What ``tools/dataset_converters/pseudo_label.py`` runs (its ``main(argv)``)."""
    from locca_mm.cli import pseudo_label
    return pseudo_label


def _args(inputs, out_dir, owl, *extra):
    return [inputs, '--out-dir', str(out_dir), '--detector', 'owlvit', '--model', owl,
            '--score-thr', '0', '--max-regions', '3', '--batch-size', '2', *extra]


def _contents(out_dir) -> dict:
    """{key: (json record, image bytes)} over every output shard, keys checked unique."""
    out = {}
    for name in sorted(os.listdir(out_dir)):
        if not name.endswith('.tar'):
            continue
        with tarfile.open(osp.join(out_dir, name)) as tar:
            for member in tar:
                key, ext = member.name.split('.', 1)
                data = tar.extractfile(member).read()
                entry = out.setdefault(key, {})
                assert ext not in entry, f'{key}.{ext} twice'
                entry[ext] = json.loads(data) if ext == 'json' else data
    return out


def _input_pairs(pattern) -> dict:
    from locca_mm.datasets.shards import expand_shards
    from locca_mm.datasets.web_shards import iter_web_shard
    return {s.key: s for path in expand_shards(pattern) for s in iter_web_shard(path)}


def test_four_shards_two_workers_every_key_once_with_its_caption_and_bytes(tmp_path, owl):
    pattern = pair_shards(tmp_path / 'in', captions=CAPTIONS)
    totals, failed = _tool().main(_args(pattern, tmp_path / 'out', owl, '--num-workers', '2'))
    assert failed == [] and totals['images'] == 12 and totals['shards'] == 4
    assert sorted(n for n in os.listdir(tmp_path / 'out') if n.endswith('.tar')) == [
        f'pairs-{s:06d}.tar' for s in range(4)]
    got, want = _contents(tmp_path / 'out'), _input_pairs(pattern)
    assert sorted(got) == sorted(want)
    for key, sample in want.items():
        record = got[key]['json']
        assert got[key]['jpg'] == sample.image  # bytes passed through unchanged
        assert record['caption'] == sample.caption and record['url'] == sample.meta['url']
        assert (record['width'], record['height']) == (56, sample.meta['height'])
        assert len(record['regions']) == 3
        for region in record['regions']:
            x1, y1, x2, y2 = region['bbox']
            assert 0 <= x1 < x2 <= 56 and 0 <= y1 < y2 <= record['height']
    manifest = json.loads((tmp_path / 'out' / 'manifest.json').read_text())
    assert manifest['num_shards'] == 4 and manifest['totals']['images'] == 12
    assert manifest['totals']['regions'] == 36
    # The datasets read what was written.
    ds = ShardedTarDataset(shards=str(tmp_path / 'out' / '*.tar'))
    assert len(ds) == 12 and ds.get_data_info(0)['captions'] == [want['00000000'].caption]


def test_failed_shard_reported_then_resumed_equals_an_uninterrupted_run(tmp_path, owl):
    tool = _tool()
    pattern = pair_shards(tmp_path / 'in', captions=CAPTIONS)
    tool.main(_args(pattern, tmp_path / 'clean', owl))
    broken = tmp_path / 'in' / 'pairs-000002.tar'
    good = broken.read_bytes()
    broken.write_bytes(good[:3000])  # truncated inside a member
    with pytest.raises(SetupError, match=r'input shard pairs-000002 failed: .*pairs-000002.tar'):
        tool.main(_args(pattern, tmp_path / 'out', owl, '--num-workers', '0'))
    totals, failed = tool.main(_args(pattern, tmp_path / 'out', owl, '--skip-invalid'))
    assert [name for name, _ in failed] == ['pairs-000002'] and totals['failed_shards'] == 1
    assert not (tmp_path / 'out' / 'pairs-000002.tar').exists()
    manifest = json.loads((tmp_path / 'out' / 'manifest.json').read_text())
    assert sorted(manifest['failed']) == ['pairs-000002'] and manifest['num_shards'] == 3
    # A run killed while writing shard 1 left its temporary file and no record.
    (tmp_path / 'out' / 'manifest' / 'pairs-000001.json').unlink()
    (tmp_path / 'out' / 'pairs-000001.tar.tmp.99999').write_bytes(b'partial')
    broken.write_bytes(good)
    totals, failed = tool.main(_args(pattern, tmp_path / 'out', owl))
    assert failed == [] and totals['shards'] == 2 and totals['already_done'] == 2
    assert not (tmp_path / 'out' / 'pairs-000001.tar.tmp.99999').exists()
    for s in range(4):
        name = f'pairs-{s:06d}.tar'
        assert (tmp_path / 'out' / name).read_bytes() == (tmp_path / 'clean' / name).read_bytes()


def test_bad_samples_are_named_or_skipped_and_counted(tmp_path, owl):
    (tmp_path / 'in').mkdir()
    path = write_tar(tmp_path / 'in' / 'bad-000000.tar', [
        ('good.jpg', jpeg_bytes(0)), ('good.txt', b'a dog'),
        ('broken.jpg', b'not an image'), ('broken.txt', b'a dog'),
        ('nocap.jpg', jpeg_bytes(1)), ('nocap.json', b'{"url": "u"}'),
        ('../evil.jpg', jpeg_bytes(2)),
    ])
    tool = _tool()
    with pytest.raises(SetupError, match=r'bad-000000.tar:broken: the image does not decode'):
        tool.main(_args(path, tmp_path / 'out', owl))
    totals, failed = tool.main(_args(path, tmp_path / 'out', owl, '--skip-invalid'))
    assert failed == [] and (totals['images'], totals['skipped']) == (1, 3)
    assert sorted(_contents(tmp_path / 'out')) == ['good']
    stats = json.loads((tmp_path / 'out' / 'manifest' / 'bad-000000.json').read_text())
    assert (stats['images'], stats['skipped']) == (1, 3)


def test_jsonl_input_cut_into_shards_of_n_pairs(tmp_path, owl):
    from PIL import Image
    (tmp_path / 'images').mkdir()
    lines = []
    for i in range(5):
        image = np.full((30, 40, 3), 40 * i, np.uint8)
        Image.fromarray(image).save(tmp_path / 'images' / f'{i}.png')
        lines.append(json.dumps(dict(image=f'{i}.png', caption=CAPTIONS[i % 3])))
    (tmp_path / 'pairs.jsonl').write_text('\n'.join(lines) + '\n')
    totals, _ = _tool().main(_args(str(tmp_path / 'pairs.jsonl'), tmp_path / 'out', owl,
                                   '--image-root', str(tmp_path / 'images'),
                                   '--samples-per-shard', '2'))
    assert totals['shards'] == 3 and totals['images'] == 5
    got = _contents(tmp_path / 'out')
    assert sorted(got) == [f'{i:09d}' for i in range(5)]
    assert got['000000004']['json']['image'] == '4.png'
    assert got['000000004']['png'] == (tmp_path / 'images' / '4.png').read_bytes()
    with tarfile.open(tmp_path / 'out' / 'pairs-000002.tar') as tar:
        assert tar.getnames() == ['000000004.png', '000000004.json']


def test_images_shrunk_in_workers_and_boxes_mapped_back(tmp_path):
    path = write_tar(tmp_path / 's.tar', [('k.jpg', jpeg_bytes(0, height=100, width=300)),
                                          ('k.txt', b'a dog')])
    items = list(UnitStream([LabelUnit('s', path)], max_side=60))
    assert [i['kind'] for i in items] == ['sample', 'end']
    sample = items[0]
    assert sample['image'].shape == (20, 60, 3) and sample['scale'] == (0.2, 0.2)
    assert (sample['width'], sample['height']) == (300, 100)
    regions = [dict(bbox=[6.0, 2.0, 60.0, 20.0], text='dog', score=0.5),
               dict(bbox=[-1.0, 0.5, 61.0, 21.0], text='a', score=0.4)]
    assert [r['bbox'] for r in _to_original(regions, sample)] == [
        [30.0, 10.0, 300.0, 100.0], [0.0, 2.5, 300.0, 100.0]]


def test_setup_errors_before_anything_loads(tmp_path, owl):
    tool = _tool()
    with pytest.raises(SetupError, match='no tar shard matches'):
        tool.main(_args(str(tmp_path / 'none-*.tar'), tmp_path / 'out', owl))
    with pytest.raises(SetupError, match='use --out-dir'):
        tool.main([str(tmp_path / 'x.tar'), '--out', 'o.jsonl', '--model', owl])
    (tmp_path / 'x.jsonl').touch()
    with pytest.raises(SetupError, match='--image-root is not a directory'):
        tool.main([str(tmp_path / 'x.jsonl'), '--out-dir', 'o', '--model', owl])
    with pytest.raises(SetupError, match='--samples-per-shard must be >= 1'):
        tool.main(_args(str(tmp_path / 'x.tar'), tmp_path / 'out', owl, '--samples-per-shard',
                        '0'))


def _train_config(tmp_path, shards: str) -> str:
    from tests.test_datasets.test_shards import _config
    path = _config(tmp_path, shards)
    text = open(path).read().replace(
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)",
        "train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)").replace(
        "checkpoint=dict(by_epoch=True, interval=1)", "checkpoint=dict(by_epoch=False, interval=2)"
    ).replace("log_processor = dict(by_epoch=True)", "log_processor = dict(by_epoch=False)")
    open(path, 'w').write(text)
    return path


@pytest.mark.slow
def test_dist_pseudo_label_two_ranks_then_locca_trains_on_the_shards(tmp_path, owl):
    pattern = pair_shards(tmp_path / 'in', captions=CAPTIONS)
    proc = run_tool(['dataset_converters/dist_pseudo_label.sh', '2', pattern,
                     '--out-dir', str(tmp_path / 'out'), '--detector', 'owlvit', '--model', owl,
                     '--score-thr', '0', '--max-regions', '3'], PORT=str(free_port()))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '4 shards (4 labelled, 0 already done, 0 failed), 12 images, 36 regions' in proc.stdout
    got, want = _contents(tmp_path / 'out'), _input_pairs(pattern)
    assert sorted(got) == sorted(want)  # every input key exactly once over the ranks' shards
    assert all(got[k]['jpg'] == s.image and got[k]['json']['caption'] == s.caption
               for k, s in want.items())
    _tool().main(_args(pattern, tmp_path / 'single', owl))
    for s in range(4):  # two ranks, batch 8: the same bytes as one process, batch 2
        name = f'pairs-{s:06d}.tar'
        assert (tmp_path / 'out' / name).read_bytes() == (tmp_path / 'single' / name).read_bytes()
    shutil.rmtree(tmp_path / 'single')
    cfg = _train_config(tmp_path, str(tmp_path / 'out' / 'pairs-{000000..000003}.tar'))
    proc = run_tool(['train.py', cfg, '--work-dir', str(tmp_path / 'work')])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'work' / 'iter_2.pth').exists()
