"""WeightsOnlyCheckpointHook (compat/weights_only_checkpoint_hook.py): a checkpoint it
prepared loads with torch's ``weights_only=True``, and its history buffers come back."""
import io

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from locca_mm.compat import WeightsOnlyCheckpointHook


def test_checkpoint_round_trips_through_weights_only_loading():
    buffer = HistoryBuffer()
    buffer.update(1.5)
    buffer.update(2.5)
    checkpoint = dict(state_dict={'w': torch.ones(2)},
                      message_hub=dict(log_scalars={'loss': buffer}),
                      meta=dict(iter=np.int64(3), mean=np.float32(0.5)))
    hook = WeightsOnlyCheckpointHook()
    hook.before_save_checkpoint(None, checkpoint)
    f = io.BytesIO()
    torch.save(checkpoint, f)
    f.seek(0)
    loaded = torch.load(f, weights_only=True)  # refuses numpy and HistoryBuffer objects
    assert loaded['meta'] == dict(iter=3, mean=0.5)
    hook.after_load_checkpoint(None, loaded)
    restored = loaded['message_hub']['log_scalars']['loss']
    assert isinstance(restored, HistoryBuffer)
    assert restored.mean() == buffer.mean() and restored.current() == 2.5


class _FSDPRunner:
    """Stands for mmengine's FlexibleRunner after 4 iterations (only its counters)."""
    epoch, iter = 0, 4


def test_a_flexible_runner_checkpoint_saved_in_validation_keeps_its_iteration(monkeypatch):
    # FlexibleRunner.save_checkpoint writes iter + 1 whatever the hook passes: after 4
    # iterations, CheckpointHook's save of iter_4.pth from validation would claim 5.
    from mmengine import runner as mm_runner
    monkeypatch.setattr(mm_runner, 'FlexibleRunner', _FSDPRunner)
    hook = WeightsOnlyCheckpointHook()
    in_train = dict(meta=dict(epoch=0, iter=4))  # saved from after_train_iter of the 4th
    hook.before_save_checkpoint(_FSDPRunner(), in_train)
    assert in_train['meta']['iter'] == 4
    hook.before_val_epoch(_FSDPRunner())
    in_val = dict(meta=dict(epoch=0, iter=5))
    hook.before_save_checkpoint(_FSDPRunner(), in_val)
    assert in_val['meta'] == dict(epoch=0, iter=4)
    hook.after_val_epoch(_FSDPRunner(), {})
    plain = dict(meta=dict(epoch=0, iter=5))  # any other runner: left as it wrote it
    hook.before_val_epoch(object())
    hook.before_save_checkpoint(object(), plain)
    assert plain['meta']['iter'] == 5
