"""Two gloo processes with two data workers each: bad-data counts, preemption of one rank,
and a non-finite loss on one rank (engine/hooks/reliability_hooks.py, data_stats_hook.py)."""
import pytest

from locca_mm.compat.checkpoint_io import safe_torch_load
from tests.conftest import assert_same_training_state
from tests.test_engine.test_multiprocess.common import rank_record, train, write_config


@pytest.mark.slow
def test_bad_record_counts_are_summed_over_workers_and_ranks(tmp_path):
    """Record 10 (rank 0, worker 1), 13 (rank 1, worker 1) and 19 (rank 1, worker 0) are bad:
    every rank logs, holds and checkpoints exactly 3. Unshuffled, rank 0 trains on the even
    indices and rank 1 on the odd ones, 4 a batch, batches taking turns between the 2 workers;
    3 iterations read each of the 24 records once."""
    cfg = write_config(tmp_path, 'bad', iters=3, interval=3, bad=(10, 13, 19), shuffle=False)
    work = tmp_path / 'work'
    proc = train(cfg, work, 2)
    expected = {'invalid_annotations': 0, 'skipped_invalid': 3, 'truncated': 0,
                'dropped_regions': 0}
    assert safe_torch_load(str(work / 'iter_3.pth'))['meta']['data_stats'] == expected
    for rank in (0, 1):
        assert rank_record(work, rank)['data_stats'] == expected
    log = proc.stdout + proc.stderr
    assert 'data: invalid_annotations 0, skipped_invalid 3, truncated 0' in log
    # what each rank trained on: the record after each bad one stands in for it
    seen = [sorted(d[0] for b in rank_record(work, r)['draws'] for d in b) for r in (0, 1)]
    assert seen[0] == sorted(set(range(0, 24, 2)) - {10} | {11})
    assert seen[1] == sorted((set(range(1, 24, 2)) - {13, 19}) | {14, 20})


@pytest.mark.slow
def test_sigterm_on_one_rank_stops_both_and_resumes_exactly(tmp_path):
    """SIGTERM to rank 1's process only, after iteration 3 of 8: both ranks stop there,
    iter_3.pth is saved, every process exits 0; resumed, the run equals the uninterrupted one
    at 8 bit for bit, data worker draws included."""
    full, work = tmp_path / 'full', tmp_path / 'work'
    plain = write_config(tmp_path, 'plain', iters=8, interval=100)
    train(plain, full, 2)
    signal = "dict(type='SignalAtIterHook', at_iter=3, rank=1)"
    proc = train(write_config(tmp_path, 'sig', iters=8, interval=100, hooks=signal), work, 2)
    assert 'preempted: checkpoint iter_3.pth saved at iteration 3' in proc.stdout + proc.stderr
    assert safe_torch_load(str(work / 'iter_3.pth'))['meta']['iter'] == 3
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_3.pth')
    assert not (work / 'iter_8.pth').exists()
    stopped = [rank_record(work, r) for r in (0, 1)]
    assert [s['iter'] for s in stopped] == [3, 3] and all(len(s['draws']) == 3 for s in stopped)
    assert stopped[0]['params'] == stopped[1]['params']
    train(plain, work, 2, '--resume')
    assert_same_training_state(safe_torch_load(str(full / 'iter_8.pth')),
                               safe_torch_load(str(work / 'iter_8.pth')))
    for r in (0, 1):
        assert rank_record(full, r)['draws'][3:] == rank_record(work, r)['draws']


@pytest.mark.slow
def test_nan_on_one_rank_is_skipped_by_all_ranks(tmp_path):
    """A NaN input on rank 1 at iteration 3 of 5: both ranks skip that update (parameters and
    optimizer unchanged), count it once, and stay identical throughout."""
    nan = "dict(type='InjectNaNOnRankHook', at_iter=3, rank=1)"
    work = tmp_path / 'work'
    train(write_config(tmp_path, 'nan', iters=5, interval=5, hooks=nan), work, 2)
    records = [rank_record(work, r) for r in (0, 1)]
    a, b = records
    assert a['params'] == b['params']  # identical after every step, bit for bit
    params = a['params']
    assert params[2] == params[1]  # iteration 3: no update on either rank
    assert all(params[i] != params[i - 1] for i in (1, 3, 4))
    for rec in records:
        assert rec['nonfinite_skipped'] == 1
        state = rec['state']['optimizer']['state']
        assert all(int(s['step']) == 4 for s in state.values())  # 5 steps, 1 skipped
    assert_same_training_state(dict(a['state'], param_schedulers=None),
                               dict(b['state'], param_schedulers=None))
    ckpt = safe_torch_load(str(work / 'iter_5.pth'))
    assert ckpt['message_hub']['runtime_info']['nonfinite_skipped'] == 1
