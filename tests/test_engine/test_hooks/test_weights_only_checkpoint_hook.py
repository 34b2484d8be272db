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
