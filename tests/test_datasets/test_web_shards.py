"""web_shards: reading img2dataset / WebDataset pairs, writing shards atomically, the manifest."""
import json
import os
import tarfile

import pytest

from locca_mm.datasets import InvalidRecordError, ShardedTarDataset
from locca_mm.datasets.web_shards import (
    ShardWriter,
    done_shards,
    iter_web_shard,
    mark_done,
    write_manifest,
)
from tests.test_datasets.utils import jpeg_bytes, pair_shards, write_tar


def test_pairs_read_in_order_with_captions_from_txt_or_json(tmp_path):
    pattern = pair_shards(tmp_path, num_shards=1)
    samples = list(iter_web_shard(pattern.replace('{000000..000000}', '000000')))
    assert [s.key for s in samples] == ['00000000', '00000001', '00000002']
    assert [s.caption for s in samples] == ['a dog', 'red car', 'two cats']  # 1: from .json
    assert samples[1].meta['url'] == 'https://example.com/00000001.jpg'
    assert samples[2].image == jpeg_bytes(2, 56) and samples[2].ext == 'jpg'
    assert samples[0].source == 'pairs-000000.tar:00000000'


def test_json_text_key_and_folders(tmp_path):
    path = write_tar(tmp_path / 's.tar', [
        ('sub/k1.png', b'png'), ('sub/k1.json', json.dumps({'text': ' hello '}).encode()),
    ])
    (sample, ) = iter_web_shard(path)
    assert (sample.key, sample.caption, sample.ext) == ('sub/k1', 'hello', 'png')


@pytest.mark.parametrize('members, message, num_problems', [
    ([('../up.jpg', b'x'), ('../up.txt', b'c')], r"s.tar:../up.jpg: member has an unsafe path",
     2),
    ([('a.jpg', b'x'), ('a.json', b'{}')], r"s.tar:a: no caption for key 'a'", 1),
    ([('a.txt', b'caption')], r"s.tar:a: no image member", 1),
    ([('a.jpg', b'x'), ('a.txt', b'c'), ('b.jpg', b'y'), ('b.txt', b'd'), ('a.json', b'{}')],
     r"s.tar:a: key 'a' appears twice", 1),
    ([('a.jpg', b'x'), ('a.json', b'{not json')], r"s.tar:a: a.json is not valid JSON", 1),
])
def test_bad_members_name_the_shard_and_key_or_are_skipped(tmp_path, members, message,
                                                         num_problems):
    path = write_tar(tmp_path / 's.tar', members + [('ok.jpg', b'i'), ('ok.txt', b'fine')])
    with pytest.raises(InvalidRecordError, match=message):
        list(iter_web_shard(path))
    problems = []
    samples = list(iter_web_shard(path, skip_invalid=True, problems=problems))
    assert [s.key for s in samples][-1] == 'ok' and len(problems) == num_problems
    assert 's.tar' in problems[0]


def test_corrupt_tar_raises_naming_the_shard(tmp_path):
    pattern = pair_shards(tmp_path, num_shards=1)
    path = pattern.replace('{000000..000000}', '000000')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:  # cut inside the second member's data
        f.write(data[:2000])
    with pytest.raises(InvalidRecordError, match=r'pairs-000000.tar: cannot read the tar shard'):
        list(iter_web_shard(path, skip_invalid=True))
    with pytest.raises(InvalidRecordError, match=r'missing.tar: cannot read'):
        list(iter_web_shard(str(tmp_path / 'missing.tar')))


def test_writer_is_atomic_deterministic_and_read_back(tmp_path):
    record = dict(caption='a dog', regions=[dict(bbox=[1, 2, 30, 20], text='dog', score=0.5)],
                  width=56, height=40)
    paths = []
    for name in ('a.tar', 'b.tar'):
        with ShardWriter(str(tmp_path / name)) as writer:
            writer.add('k0', jpeg_bytes(0), 'jpg', record)
            assert not (tmp_path / name).exists()  # only the temporary file so far
            writer.add('k1', jpeg_bytes(1), 'jpg', dict(caption='x'))
            paths.append(writer.commit())
    assert open(paths[0], 'rb').read() == open(paths[1], 'rb').read()
    with tarfile.open(paths[0]) as tar:
        assert [(m.name, m.mtime, m.uid) for m in tar][:2] == [('k0.jpg', 0, 0), ('k0.json', 0, 0)]
    ds = ShardedTarDataset(shards=paths[0])
    info = ds.get_data_info(0)
    assert info['captions'] == ['a dog'] and info['img_bytes'] == jpeg_bytes(0)
    assert info['regions']['bboxes'].tolist() == [[1, 2, 30, 20]]
    with pytest.raises(RuntimeError, match='boom'):
        with ShardWriter(str(tmp_path / 'c.tar')) as writer:
            writer.add('k0', b'x', 'jpg', record)
            raise RuntimeError('boom')
    assert not any(n.startswith('c.tar') for n in os.listdir(tmp_path))


def test_manifest_lists_only_shards_with_tar_and_record(tmp_path):
    for name in ('x-0', 'x-1', 'x-2'):
        with ShardWriter(str(tmp_path / f'{name}.tar')) as writer:
            writer.add('k', b'i', 'jpg', dict(caption='c'))
            writer.commit()
    mark_done(str(tmp_path), 'x-0', dict(images=1, regions=4))
    mark_done(str(tmp_path), 'x-1', dict(images=1, regions=2))
    mark_done(str(tmp_path), 'gone', dict(images=5))  # its tar is absent: not done
    (tmp_path / 'x-1.tar').unlink()
    assert sorted(done_shards(str(tmp_path))) == ['x-0']
    manifest = write_manifest(str(tmp_path))
    assert manifest['num_shards'] == 1 and manifest['totals'] == dict(images=1, regions=4)
    assert json.loads((tmp_path / 'manifest.json').read_text())['shards']['x-0']['regions'] == 4


def test_captions_list_in_a_record(tmp_path):
    from locca_mm.datasets.jsonl import parse_record
    info = parse_record(dict(image='i.jpg', caption='a', captions=['b', 'c']), 'src')
    assert info['captions'] == ['a', 'b', 'c']
    with pytest.raises(InvalidRecordError, match=r'src: empty captions\[1\]'):
        parse_record(dict(image='i.jpg', captions=['b', '  ']), 'src')
    with pytest.raises(InvalidRecordError, match='"captions" must be a list'):
        parse_record(dict(image='i.jpg', captions='b'), 'src')
