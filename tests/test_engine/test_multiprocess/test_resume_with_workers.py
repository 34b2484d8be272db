"""Exact resume with data workers: the augmentation randomness of the workers replays."""
import pytest

from locca_mm.compat.checkpoint_io import safe_torch_load
from tests.conftest import assert_same_training_state
from tests.test_engine.test_multiprocess.common import rank_record, train, write_config


@pytest.mark.slow
@pytest.mark.parametrize('workers', [2, 0])
def test_resume_with_workers_is_bit_exact(tmp_path, workers):
    """Stopped at 3 and resumed, a run equals the uninterrupted run at 8: weights, optimizer
    and schedulers, and every sample with its numpy/random/torch draws. With 2 workers the
    draws replay from mmengine's worker seeds; without workers the pipeline draws from the
    main process's generators (torch is seeded per batch by StepSeedHook)."""
    cfg = write_config(tmp_path, 'toy', iters=8, interval=3, workers=workers)
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    train(cfg, full)
    train(cfg, resumed, 1, '--resume', str(full / 'iter_3.pth'))
    assert_same_training_state(safe_torch_load(str(full / 'iter_8.pth')),
                               safe_torch_load(str(resumed / 'iter_8.pth')))
    a, b = rank_record(full), rank_record(resumed)
    assert len(a['draws']) == 8 and len(b['draws']) == 5
    assert a['draws'][3:] == b['draws']  # same samples, same random draws, in order
    draws = [d[1:] for batch in a['draws'] for d in batch]
    assert len(draws) == 32 and len({tuple(d) for d in draws}) == 32  # the draws really are random


@pytest.mark.slow
def test_epoch_loop_resumed_at_an_epoch_boundary_is_bit_exact(tmp_path):
    """An epoch-based loop without workers: the first batch of the resumed epoch is fetched
    with the uninterrupted run's torch draws (StepSeedHook seeds it before the epoch)."""
    base = write_config(tmp_path, 'iters', workers=0)
    cfg = tmp_path / 'epochs.py'
    cfg.write_text(f"""_base_ = ['{base}']
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=3, val_interval=1000)
train_dataloader = dict(sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True))
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1))
""")
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    train(str(cfg), full)
    train(str(cfg), resumed, 1, '--resume', str(full / 'epoch_1.pth'))
    assert_same_training_state(safe_torch_load(str(full / 'epoch_3.pth')),
                               safe_torch_load(str(resumed / 'epoch_3.pth')))
    a, b = rank_record(full), rank_record(resumed)
    assert len(a['draws']) == 18 and len(b['draws']) == 12  # 24 samples / batch 4, 3 epochs
    assert a['draws'][6:] == b['draws']
