"""tools/analysis_tools/data_stats.py: counts and histograms of a labelled corpus, by hand."""
import json
import re

import pytest

from locca_mm.datasets.web_shards import ShardWriter
from tests.conftest import run_tool, tool_error


def _region(box, score):
    return dict(bbox=box, text='t', score=score)


def test_numbers_match_a_hand_count(tmp_path):
    records = [  # 100 x 100 images unless said
        dict(caption='a', width=100, height=100,
             regions=[_region([0, 0, 50, 50], 0.9), _region([0, 0, 10, 10], 0.25)]),
        dict(caption='b', width=100, height=100, regions=[]),
        dict(caption='c', regions=[_region([0, 0, 5, 5], 0.5)]),  # no size: not in size hist
        dict(caption='d', width=200, height=50, regions=[_region([0, 0, 100, 25], 0.1)] * 3),
    ]
    for shard, part in (('s-0', records[:2]), ('s-1', records[2:])):
        with ShardWriter(str(tmp_path / f'{shard}.tar')) as writer:
            for i, record in enumerate(part):
                writer.add(f'{shard}_{i}', b'img', 'jpg', record)
            writer.commit()
    proc = run_tool(['analysis_tools/data_stats.py', str(tmp_path / 's-{0..1}.tar'),
                     '--out-dir', str(tmp_path / 'out'), '--max-regions', '2'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '2 shards' in proc.stdout.splitlines()[-1]
    stats = json.loads((tmp_path / 'out' / 'data_stats.json').read_text())
    assert (stats['images'], stats['regions']) == (4, 6)
    # Counts 2, 0, 1, 3: the 90th percentile interpolates 2 + 0.7 * (3 - 2).
    assert stats['regions_per_image'] == dict(mean=1.5, median=1.5, p90=pytest.approx(2.7), max=3)
    assert stats['regions_histogram'] == [1, 1, 2]  # 0, 1, >= 2 regions
    # Scores 0.9, 0.25, 0.5, 0.1 x 3 in bins of 0.1.
    assert stats['score_histogram'] == [0, 3, 1, 0, 0, 1, 0, 0, 0, 1]
    # sqrt(area share): 0.5, 0.1, and 3 x sqrt(2500 / 10000) = 0.5; bins 0.05 .. 1.
    assert stats['boxes_sized'] == 5
    assert stats['size_histogram'] == [0, 0, 1, 0, 0, 4, 0]
    # Images with no region >= 0.3: 'b' and 'd'.
    assert stats['share_without_region'] == 0.5
    # What it prints is what it saved.
    printed = next(x for x in proc.stdout.splitlines() if x.startswith('score histogram: '))
    assert [int(n) for n in re.findall(r'\): (\d+)', printed)] == stats['score_histogram']
    assert (tmp_path / 'out' / 'data_stats.png').stat().st_size > 10_000
    err = tool_error(run_tool(['analysis_tools/data_stats.py', str(tmp_path / 's-{6..7}.tar')]))
    assert re.search('tar shard not found: .*s-6.tar', err), err
