"""tools/train.py, test.py, dist_train.sh and print_config.py on the toy config."""
import glob
import json
import os
import os.path as osp
import pickle

import pytest
import torch

from locca_mm.compat.checkpoint_io import safe_torch_load
from tests.conftest import TOY_CONFIG, assert_same_training_state, free_port, read_scalars, run_tool

# Raw per-iteration losses in scalars.json: no smoothing window, log every iteration.
RAW_LOG = ['log_processor.window_size=1', 'default_hooks.logger.interval=1']


def _losses(work_dir):
    return {r['step']: r['loss'] for r in read_scalars(work_dir) if 'loss' in r}


def _train(work_dir, *extra):
    return run_tool(['train.py', TOY_CONFIG, '--work-dir', str(work_dir), *extra])


@pytest.fixture(scope='module')
def full_run(tmp_path_factory):
    """An uninterrupted 40-iteration run that checkpoints at 20 and 40."""
    work_dir = tmp_path_factory.mktemp('full')
    proc = _train(work_dir, '--cfg-options', *RAW_LOG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work_dir


@pytest.mark.slow
def test_train_writes_checkpoints_and_learns(full_run):
    assert osp.isfile(full_run / 'iter_20.pth') and osp.isfile(full_run / 'iter_40.pth')
    losses = _losses(full_run)
    assert sorted(losses) == list(range(1, 41))
    # The regressor learns: the last losses are far below the first ones.
    first = sum(losses[i] for i in range(1, 6)) / 5
    last = sum(losses[i] for i in range(36, 41)) / 5
    assert last < 0.5 * first


@pytest.mark.slow
def test_resume_matches_uninterrupted_run(full_run, tmp_path):
    resumed = tmp_path / 'resumed'
    proc = _train(resumed, '--resume', str(full_run / 'iter_20.pth'), '--cfg-options', *RAW_LOG)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # Same iteration count: the resumed run logged iterations 21..40 only.
    resumed_losses = _losses(resumed)
    assert sorted(resumed_losses) == list(range(21, 41))
    full_losses = _losses(full_run)
    # Same next-step loss and every loss after it.
    for step in range(21, 41):
        assert resumed_losses[step] == pytest.approx(full_losses[step], rel=1e-6, abs=1e-9)

    # Same parameters and optimizer state at the end.
    a = safe_torch_load(full_run / 'iter_40.pth')
    b = safe_torch_load(resumed / 'iter_40.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 40
    assert_same_training_state(a, b)


@pytest.mark.slow
def test_auto_resume_picks_latest_checkpoint(tmp_path):
    work_dir = tmp_path / 'auto'
    proc = _train(work_dir, '--cfg-options', 'train_cfg.max_iters=20')
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _train(work_dir, '--resume', '--cfg-options', 'train_cfg.max_iters=40', *RAW_LOG)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = safe_torch_load(work_dir / 'iter_40.pth')
    assert ckpt['meta']['iter'] == 40
    # The second run's own log (the newest timestamped dir) starts after iteration 20.
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(work_dir / d))
    assert len(runs) == 2
    assert sorted(_losses(work_dir / runs[-1])) == list(range(21, 41))


@pytest.mark.slow
def test_amp_trains_on_this_device(tmp_path):
    proc = _train(tmp_path / 'amp', '--amp', '--cfg-options', 'train_cfg.max_iters=6',
                  'default_hooks.checkpoint.interval=6')
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = safe_torch_load(tmp_path / 'amp' / 'iter_6.pth')
    assert 'AutocastOptimWrapper' in ckpt['meta']['cfg']
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values())


@pytest.mark.slow
def test_test_tool_prints_metrics_and_dumps_predictions(full_run, tmp_path):
    out = tmp_path / 'preds.pkl'
    metrics_file = tmp_path / 'metrics.json'
    proc = run_tool(['test.py', TOY_CONFIG, str(full_run / 'iter_40.pth'), '--work-dir',
                     str(tmp_path / 'test'), '--out', str(out), '--out-metrics', str(metrics_file)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(metrics_file.read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == metrics
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 64  # every sample of the toy dataset
    mse = sum(float(((p['pred'] - p['target'])**2).mean()) for p in preds) / len(preds)
    assert metrics['toy/mse'] == pytest.approx(mse, rel=1e-5)


@pytest.mark.slow
def test_dist_train_two_cpu_processes_see_different_samples(tmp_path):
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(f"_base_ = {TOY_CONFIG!r}\ncustom_hooks = [dict(type='RecordSamplesHook')]\n")
    work_dir = tmp_path / 'dist'
    proc = run_tool(['dist_train.sh', str(cfg), '2', '--work-dir', str(work_dir)],
                    PORT=str(free_port()))
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = [json.loads((work_dir / f'samples_rank{r}.json').read_text()) for r in range(2)]
    assert len(seen[0]) == len(seen[1]) == 40  # both ranks ran every iteration
    # One epoch = 64 samples = 8 iterations of 4 samples on each of 2 ranks.
    epoch = [[i for batch in ranks[:8] for i in batch] for ranks in seen]
    assert not set(epoch[0]) & set(epoch[1])
    assert sorted(epoch[0] + epoch[1]) == list(range(64))
    assert osp.isfile(work_dir / 'iter_40.pth')


def test_print_config_merges_bases():
    proc = run_tool(['misc/print_config.py', TOY_CONFIG, '--cfg-options', 'train_cfg.max_iters=7'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "type='ToyRegressor'" in proc.stdout
    assert "default_scope = 'locca_mm'" in proc.stdout  # from _base_/default_runtime.py
    assert 'max_iters=7' in proc.stdout


def test_shell_scripts_print_usage():
    for script in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh'):
        proc = run_tool([script])
        assert proc.returncode == 2 and 'usage:' in proc.stderr, script


@pytest.mark.slow
def test_dist_test_two_cpu_processes_match_single_process(full_run, tmp_path):
    ckpt = str(full_run / 'iter_40.pth')
    single = run_tool(['test.py', TOY_CONFIG, ckpt, '--work-dir', str(tmp_path / 'one')])
    dist = run_tool(['dist_test.sh', TOY_CONFIG, ckpt, '2', '--work-dir', str(tmp_path / 'two')],
                    PORT=str(free_port()))
    assert single.returncode == 0 and dist.returncode == 0, dist.stderr[-3000:]
    one = json.loads(single.stdout.strip().splitlines()[-1])
    two = json.loads(dist.stdout.strip().splitlines()[-1])
    # Every sample is evaluated once whether on one rank or split over two.
    assert two['toy/mse'] == pytest.approx(one['toy/mse'], rel=1e-5)


def test_amp_trains_locca_in_bfloat16_autocast(tmp_path):
    from tests.conftest import ROOT
    cfg = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
    work = tmp_path / 'amp_locca'
    proc = run_tool(['train.py', cfg, '--amp', '--work-dir', str(work), '--cfg-options',
                     'train_cfg.max_iters=3', 'train_dataloader.batch_size=4',
                     'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
                     'default_hooks.checkpoint.interval=3'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = safe_torch_load(work / 'iter_3.pth')
    assert "type='AutocastOptimWrapper'" in ckpt['meta']['cfg']
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())


# The brief's entry point on the repository's fixture shards (two images a step).
ENTRY = ['configs/locca_vit_b.py', '--dry-run', '--cfg-options',
         f"train_dataloader.dataset.shards={osp.join('tests', 'data', 'shards')}"
         '/shard-{000000..000001}.tar',
         'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False']


def _dry_run_report(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [x for x in proc.stdout.splitlines() if x.startswith('dry run: ')]
    assert lines, proc.stdout[-2000:]
    return lines


@pytest.mark.slow
def test_the_entry_config_builds_with_train_py(tmp_path):
    proc = run_tool(['train.py', *ENTRY[:2], '--work-dir', str(tmp_path), *ENTRY[2:]])
    (line,) = _dry_run_report(proc)
    # The paper's model: a ViT-B/16 LocCa, Adafactor, 224-px inputs, the shards' samples.
    assert 'model LocCa' in line and 'optimizer ScalingViTAdafactor' in line
    assert 'inputs [2, 3, 224, 224]' in line and 'dataset ShardedTarDataset' in line
    params = int(line.split('parameters ')[1].split(',')[0])
    assert 150e6 < params < 250e6, line  # ViT-B/16 (86 M) + a 6-layer decoder and its vocabulary
    assert not glob.glob(str(tmp_path / 'iter_*.pth'))  # nothing trained


@pytest.mark.slow
def test_the_entry_config_builds_with_dist_train_sh(tmp_path):
    proc = run_tool(['dist_train.sh', ENTRY[0], '2', *ENTRY[1:2], '--work-dir', str(tmp_path),
                     *ENTRY[2:]], PORT=str(free_port()), timeout=600)
    assert len(_dry_run_report(proc)) == 2  # both ranks built everything


def test_a_missing_config_names_the_closest_ones(tmp_path):
    proc = run_tool(['train.py', 'configs/loca_vit_b.py', '--work-dir', str(tmp_path)])
    assert proc.returncode == 1
    assert 'config file not found: configs/loca_vit_b.py (closest: configs/locca_vit_b.py' \
        in proc.stderr
