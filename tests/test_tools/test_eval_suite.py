"""tools/eval_suite.py: two checkpoints, one table; frozen encoders stay frozen; the table
merges rows; real-data protocols without their data are reported, not run (one real-data
config: locca_mm.cli.eval_suite.run_real_config, what the tool runs)."""
import json
import os.path as osp
import re
import subprocess
import types

import pytest
import torch

from locca_mm.cli import SetupError
from locca_mm.cli.eval_suite import default_name, option_dict, run_real_config
from tests.conftest import ROOT, run_tool, tool_error

PRETRAIN = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
SUITE_METRICS = {'rec/Acc@0.5': 100, 'caption/CIDEr': 1000, 'cls/accuracy': 100}


def _tiny_checkpoint(path, seed: int) -> str:
    """The tiny shapes LocCa with random weights (``seed``), saved as a pretraining would."""
    from locca_mm.cli import load_config
    from locca_mm.registry import MODELS
    from locca_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(load_config(PRETRAIN).model)
    torch.save({'state_dict': model.state_dict(), 'meta': dict(iter=0)}, path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpts')
    return [_tiny_checkpoint(root / f'model_{i}.pth', i) for i in range(2)]


@pytest.mark.slow
def test_two_checkpoints_one_table_frozen_encoders(checkpoints, tmp_path):
    from locca_mm.compat.checkpoint_io import safe_torch_load
    out = tmp_path / 'table'
    for name, ckpt in zip(('first', 'second'), checkpoints):
        proc = run_tool(['eval_suite.py', ckpt, '--quick', '--name', name, '--out', str(out),
                         '--work-dir', str(tmp_path / name)], timeout=400)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f'| {name} |' in proc.stdout  # the table is printed
    table = json.loads((out / 'results.json').read_text())
    assert list(table['rows']) == ['first', 'second']
    assert table['columns'] == list(SUITE_METRICS)
    markdown = (out / 'results.md').read_text().splitlines()
    assert markdown[0] == '| checkpoint | ' + ' | '.join(SUITE_METRICS) + ' |'
    for name, ckpt in zip(('first', 'second'), checkpoints):
        row = table['rows'][name]
        assert row['checkpoint'] == ckpt and row['quick'] and row['seeds'] == [0]
        line = next(t for t in markdown if t.startswith(f'| {name} |'))
        for column, top in SUITE_METRICS.items():
            cell = row['cells'][column]
            assert 0 <= cell['mean'] <= top and cell['values'] == [cell['mean']]
            assert f'{cell["mean"]:.1f}' in line
        before = safe_torch_load(ckpt)['state_dict']
        for suite, record in row['runs'].items():
            assert record['encoder_unchanged'] is True and record['iters'] == 4
            # The protocol's own last checkpoint: the encoder bit-identical, the decoder not.
            after = safe_torch_load(str(tmp_path / name / suite / 'seed_0' / 'iter_4.pth'))
            after = after['state_dict']
            encoder = [k for k in after if k.startswith('backbone.')]
            assert encoder and all(torch.equal(after[k], before[k]) for k in encoder)
            decoder = 'head.decoder.blocks.0.self_attn.qkv.weight'
            assert not torch.equal(after[decoder], before[decoder])
    # The table's number is what tools/test.py measures on the protocol's trained model.
    work = tmp_path / 'second' / 'cls' / 'seed_0'
    proc = run_tool(['test.py', str(work / 'cls-frozen_tiny_shapes.py'), str(work / 'iter_4.pth'),
                     '--work-dir', str(tmp_path / 'retest')])
    assert proc.returncode == 0, proc.stderr[-3000:]
    retest = json.loads(proc.stdout.strip().splitlines()[-1])
    assert retest['cls/accuracy'] == pytest.approx(
        table['rows']['second']['cells']['cls/accuracy']['mean'])


@pytest.mark.slow
def test_real_data_without_its_data_is_reported_not_run(checkpoints, tmp_path):
    from locca_mm.cli.eval_suite import REAL_SUITES, suite_configs
    # Run from an empty directory: every relative data root is absent.
    proc = run_tool(['eval_suite.py', checkpoints[0], '--data', 'real', '--name', 'nodata'],
                    cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = json.loads((tmp_path / 'work_dirs' / 'eval_suite' / 'results.json').read_text())
    cells = table['rows']['nodata']['cells']
    assert cells['rec-frozen_refcoco'] == {'note': 'missing data: data/refcoco/'}
    assert cells['rec-frozen_refcocog']['note'] == 'missing data: data/refcocog/'
    assert len(cells) == sum(len(suite_configs(s, 'real')) for s in REAL_SUITES)
    assert all(c['note'].startswith(('missing data: ', 'missing config: ')) for c in cells.values())
    assert 'missing data: data/refcoco/' in proc.stdout
    assert '| nodata | missing data: data/refcoco/ |' in (
        tmp_path / 'work_dirs' / 'eval_suite' / 'results.md').read_text()
    assert not list((tmp_path / 'work_dirs').rglob('*.log'))  # nothing was run


def test_results_table_merges_rows(tmp_path):
    from locca_mm.cli.eval_suite import ResultsTable, spread
    table = ResultsTable(str(tmp_path))
    table.merge('a', dict(cells={'x/m': spread([1.0, 3.0])}, seeds=[0, 1]))
    table.merge('b', dict(cells={'y/m': dict(note='missing data: d/')}, seeds=[0]))
    merged = table.merge('a', dict(cells={'x/m': spread([5.0])}, seeds=[0]))
    assert list(merged['rows']) == ['a', 'b'] and merged['columns'] == ['x/m', 'y/m']
    assert merged['rows']['a']['cells']['x/m']['mean'] == 5.0
    assert json.loads((tmp_path / 'results.json').read_text()) == merged
    lines = (tmp_path / 'results.md').read_text().splitlines()
    assert lines[2] == '| a | 5.0 |  |' and lines[3] == '| b |  | missing data: d/ |'
    two_seeds = ResultsTable.markdown(dict(rows={'c': dict(cells={'x/m': spread([1.0, 3.0])})}))
    assert two_seeds.splitlines()[2] == '| c | 2.0 ± 1.4 |'
    (tmp_path / 'results.json').write_text('{not json')
    with pytest.raises(ValueError, match='results.json is not a results table'):
        table.merge('c', dict(cells={}))


def test_missing_data_names_the_first_absent_path(tmp_path):
    from mmengine.config import Config

    from locca_mm.cli.eval_suite import missing_data
    (tmp_path / 'root' / 'images').mkdir(parents=True)
    (tmp_path / 'root' / 'ann.json').write_text('{}')
    dataset = dict(type='X', data_root='root/', ann_file='ann.json',
                   data_prefix=dict(img_path='images/'))
    cfg = Config(dict(train_dataloader=dict(dataset=dataset),
                      test_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
                          dataset, dict(dataset, ann_file='test.json')]))))
    assert missing_data(cfg, str(tmp_path)) == 'root/test.json'
    (tmp_path / 'root' / 'test.json').write_text('{}')
    assert missing_data(cfg, str(tmp_path)) is None
    assert missing_data(cfg, str(tmp_path / 'elsewhere')) == 'root/'
    # A dataset that reads through another dataset config (the holistic transfers' readers).
    wrapper = dict(type='W', reader=dict(type='R', data_root='root/', ann_file='q.json'))
    assert missing_data(Config(dict(val_dataloader=dict(dataset=wrapper))),
                        str(tmp_path)) == 'root/q.json'


def _args(ckpt, tmp_path, options=()):
    return types.SimpleNamespace(checkpoint=ckpt, cfg_options=list(options),
                                 work_dir=str(tmp_path / 'runs'))


TUNED_DECODER = """model = dict(backbone=dict(frozen_stages=0),
             head=dict(init_cfg=dict(type='Pretrained', prefix='head.', checkpoint='x')))\n"""


@pytest.mark.parametrize('init,overrides', [
    ('encoder_from', ''),
    ('load_from', 'model = dict(backbone=dict(frozen_stages=0))\n'),
    ('model_from', TUNED_DECODER)])
def test_a_real_config_trains_then_tests_its_checkpoint(checkpoints, tmp_path, init, overrides):
    config = tmp_path / 'protocol.py'
    rec = osp.join(ROOT, 'configs', 'shapes', 'rec_tiny_shapes.py')
    config.write_text(f'_base_ = {rec!r}\n' + overrides)
    calls = []

    def fake_run(cmd, cwd=None, stdout=None, stderr=None):
        calls.append(cmd)
        work = cmd[cmd.index('--work-dir') + 1]
        if cmd[1].endswith('train.py'):
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'iter_9.pth'))
        else:
            with open(cmd[cmd.index('--out-metrics') + 1], 'w') as f:
                f.write(json.dumps({'refcoco/Acc@0.5': 61.5, 'refcoco/mIoU': 50.0}) + '\n')
        return subprocess.CompletedProcess(cmd, 0)

    metrics, record = run_real_config(str(config), _args(checkpoints[0], tmp_path,
                                                              ['randomness.seed=3']), fake_run)
    assert metrics == {'refcoco/Acc@0.5': 61.5, 'refcoco/mIoU': 50.0}
    assert record['init'] == init
    train_cmd, test_cmd = calls
    assert train_cmd[-2:] == [f'{init}={checkpoints[0]}', 'randomness.seed=3']
    assert test_cmd[3] == osp.join(tmp_path, 'runs', 'protocol', 'iter_9.pth')
    assert test_cmd[-2:] == ['--cfg-options', 'randomness.seed=3']

    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1)

    metrics, _ = run_real_config(str(config), _args(checkpoints[0], tmp_path), failing)
    assert metrics['note'].startswith('failed: train')
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    metrics, _ = run_real_config(str(broken), _args(checkpoints[0], tmp_path), failing)
    assert metrics['note'].startswith(f'failed: cannot read config {broken}')
    metrics, _ = run_real_config(str(tmp_path / 'absent.py'), _args(checkpoints[0],
                                                                         tmp_path), failing)
    assert metrics['note'].startswith('missing config: ') and 'absent.py' in metrics['note']


def test_bad_arguments_stop_with_one_line(checkpoints, tmp_path):
    err = tool_error(run_tool(['eval_suite.py', str(tmp_path / 'absent.pth')]))
    assert re.search('checkpoint file not found', err), err
    err = tool_error(run_tool(['eval_suite.py', checkpoints[0], '--suite', 'rec,holistic']))
    assert re.search(r"unknown suite\(s\) \['holistic'\] for --data embedded", err), err
    assert default_name('work_dirs/demo/seed_0/locca/pretrain/iter_900.pth') == \
        'locca/pretrain/iter_900'
    assert option_dict(['a.b=1', 'c=[1,2]', 'd=x']) == {'a.b': 1, 'c': [1, 2], 'd': 'x'}
    with pytest.raises(SetupError, match='KEY=VALUE'):
        option_dict(['max_iters'])


def test_suites_and_their_configs():
    from locca_mm.cli.eval_suite import config_tag, headline, parse_suites, suite_configs
    assert parse_suites('', 'embedded') == ['rec', 'caption', 'cls']
    assert parse_suites('cls, rec-aided,cls', 'embedded') == ['cls', 'rec-aided']
    assert parse_suites('', 'real') == ['rec', 'rec-finetune', 'holistic', 'ade20k', 'detection']
    with pytest.raises(ValueError, match='unknown suite'):
        parse_suites('caption', 'real')
    assert all(osp.isfile(p) for s in ('rec', 'caption', 'cls', 'rec-aided')
               for p in suite_configs(s, 'embedded'))
    rec = suite_configs('rec', 'real')
    assert [config_tag(p) for p in rec] == ['rec-frozen_refcoco', 'rec-frozen_refcocop',
                                            'rec-frozen_refcocog']
    assert config_tag('linear-frozen_locca-vit-b_ade20k-512x512.py') == \
        'linear-frozen_ade20k-512x512'

    metrics = {'refcoco/Acc@0.5': 60.0, 'refcoco/val/Acc@0.5': 61.0, 'refcoco/mIoU': 50.0,
               'time': 1.0}
    assert headline(metrics, ('Acc@0.5', )) == {'Acc@0.5': 60.0, 'val/Acc@0.5': 61.0}
    assert headline({'mIoU': 40.0, 'aAcc': 80.0}, ('mIoU', )) == {'mIoU': 40.0}
    assert headline({'a/b': 1, 'c': 'text'}, ('CIDEr', )) == {'b': 1.0}
