"""The mmengine 0.10.7 fixes: safe checkpoints, CPU distributed wrapping."""
import io
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

import locca_mm  # noqa: F401  (applies the fixes)
from locca_mm.utils.mmengine_compat import (
    CheckpointLoadError,
    cpu_model_wrapper_cfg,
    safe_torch_load,
    to_weights_only_safe,
)


def _globals_beyond_torch_defaults(path):
    """Globals the file needs beyond torch's own allow list (ours excluded too)."""
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        return torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    finally:
        torch.serialization.add_safe_globals(allowed)


def test_history_buffer_round_trips_through_weights_only_load(tmp_path):
    buf = HistoryBuffer([1.5, 2.25, 3.0], [1, 2, 1], max_length=10)
    path = tmp_path / 'hub.pth'
    torch.save({'buf': buf}, path)
    # Nothing but the one allow-listed rebuild function is needed.
    assert _globals_beyond_torch_defaults(path) == [
        'locca_mm.utils.mmengine_compat.rebuild_history_buffer']
    loaded = torch.load(path, weights_only=True)['buf']
    assert isinstance(loaded, HistoryBuffer)
    np.testing.assert_array_equal(loaded._log_history, buf._log_history)
    np.testing.assert_array_equal(loaded._count_history, buf._count_history)
    assert loaded.max_length == 10 and loaded.mean(2) == buf.mean(2)


def test_to_weights_only_safe_converts_numpy():
    obj = OrderedDict(a=np.float64(0.1), b=[np.int64(3), (np.arange(3),)],
                      c={'d': np.array(['x', 'y'])}, e='text')
    safe = to_weights_only_safe(obj)
    assert isinstance(safe, OrderedDict)
    assert type(safe['a']) is float and safe['a'] == 0.1
    assert type(safe['b'][0]) is int and safe['b'][0] == 3
    assert torch.equal(safe['b'][1][0], torch.arange(3))
    assert safe['c']['d'] == ['x', 'y'] and safe['e'] == 'text'


def test_saved_runner_checkpoint_has_no_unsafe_globals(tmp_path):
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', 1.25)
    hub.update_info('eta', np.float64(3.5))
    ckpt = dict(meta=dict(iter=3, seed=np.int64(7)), state_dict={'w': torch.ones(2)},
                message_hub=hub.state_dict())
    path = str(tmp_path / 'ckpt.pth')
    mmengine_checkpoint.save_checkpoint(ckpt, path)  # what Runner calls, wrapped by locca_mm
    assert _globals_beyond_torch_defaults(path) == [
        'locca_mm.utils.mmengine_compat.rebuild_history_buffer']
    loaded = _load_checkpoint(path)  # mmengine's loader: local files go through ours
    assert loaded['meta']['seed'] == 7 and loaded['message_hub']['runtime_info']['eta'] == 3.5
    restored = MessageHub.get_instance('compat-test-restored')
    restored.load_state_dict(loaded['message_hub'])
    assert restored.get_scalar('train/loss').current() == 1.25


class _RunsCode:
    """Pickles to a call of os.system: what a hostile checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, path)
    with pytest.raises(CheckpointLoadError, match='evil.pth.*posix.system|evil.pth.*os.system'):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil_legacy.pth'
    with open(path, 'wb') as f:
        pickle.dump(_RunsCode(marker), f)
    with pytest.raises(CheckpointLoadError, match='evil_legacy.pth'):
        safe_torch_load(str(path))
    assert not marker.exists()


def test_truncated_checkpoint_names_the_file(tmp_path):
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, buf)
    path = tmp_path / 'truncated.pth'
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(CheckpointLoadError, match='truncated.pth'):
        _load_checkpoint(str(path))


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        _load_checkpoint(str(tmp_path / 'absent.pth'))


def test_cpu_ddp_wrapper_cfg_drops_device_ids():
    cfg = dict(find_unused_parameters=True)
    default = cpu_model_wrapper_cfg(None, cfg)
    assert default == dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                           find_unused_parameters=True, device_ids=None)
    given = cpu_model_wrapper_cfg(
        dict(type='MMDistributedDataParallel', broadcast_buffers=True), {})
    assert given['device_ids'] is None and given['broadcast_buffers'] is True
    # Not a DDP subclass: untouched.
    fsdp = dict(type='MMFullyShardedDataParallel')
    assert cpu_model_wrapper_cfg(fsdp, {}) == fsdp


def test_patches_are_installed():
    from mmengine.dist import utils as dist_utils
    from mmengine.runner import Runner, checkpoint, runner
    assert hasattr(Runner.wrap_model, '__wrapped__')
    assert hasattr(dist_utils._init_dist_pytorch, '__wrapped__')
    assert runner.save_checkpoint is checkpoint.save_checkpoint
    assert hasattr(checkpoint.save_checkpoint, '__wrapped__')
    locca_mm.utils.mmengine_compat.apply_mmengine_patches()  # idempotent: no double wrapping
    assert not hasattr(Runner.wrap_model.__wrapped__, '__wrapped__')
