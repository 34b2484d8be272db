"""Checkpoint I/O: weights-only safe checkpoints, what loads and what is refused."""
import io
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

from locca_mm.compat.checkpoint_io import (
    HISTORY_BUFFER_KEY,
    CheckpointLoadError,
    restore_history_buffers,
    safe_torch_load,
    to_weights_only_safe,
)


def _unsafe_globals(path):
    """Globals the file needs beyond torch's default allow list (nothing of ours added)."""
    ours = [g for g in torch.serialization.get_safe_globals() if 'locca' in repr(g)]
    assert ours == []  # the process-wide allow list holds nothing of locca_mm
    return torch.serialization.get_unsafe_globals_in_checkpoint(str(path))


def test_history_buffer_round_trips_through_plain_weights_only_load(tmp_path):
    buf = HistoryBuffer([1.5, 2.25, 3.0], [1, 2, 1], max_length=10)
    path = tmp_path / 'hub.pth'
    torch.save(to_weights_only_safe({'buf': buf}), path)
    assert _unsafe_globals(path) == []  # torch's own weights_only loader takes it as it is
    stored = torch.load(path, weights_only=True)['buf']
    assert set(stored) == {HISTORY_BUFFER_KEY}
    loaded = restore_history_buffers({'buf': stored})['buf']
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


def test_saved_runner_checkpoint_needs_no_allow_list(tmp_path):
    hub = MessageHub.get_instance('compat-test')
    hub.update_scalar('train/loss', 1.25)
    hub.update_info('eta', np.float64(3.5))
    ckpt = dict(meta=dict(iter=3, seed=np.int64(7)), state_dict={'w': torch.ones(2)},
                message_hub=hub.state_dict())
    path = str(tmp_path / 'ckpt.pth')
    mmengine_checkpoint.save_checkpoint(ckpt, path)  # what Runner calls (the tools' fixes)
    assert _unsafe_globals(path) == []
    loaded = _load_checkpoint(path)  # mmengine's loader: local files go through ours
    assert loaded['meta']['seed'] == 7 and loaded['message_hub']['runtime_info']['eta'] == 3.5
    restored = MessageHub.get_instance('compat-test-restored')
    restored.load_state_dict(loaded['message_hub'])
    assert restored.get_scalar('train/loss').current() == 1.25


def test_legacy_numpy_data_loads_and_the_allow_list_stays_as_it_was(tmp_path):
    # An older mmengine/mmdet checkpoint: raw numpy arrays, dtypes and scalars in its meta.
    meta = dict(seed=np.int64(3), mean=np.array([1.5, 2.5]), dtype=np.dtype('float32'),
                flags=np.array([True, False]), names=np.array(['a', 'b']))
    path = tmp_path / 'legacy.pth'
    torch.save({'meta': meta, 'state_dict': {'w': torch.ones(2)}}, path)
    with pytest.raises(pickle.UnpicklingError):  # torch's default loader refuses it
        torch.load(path, weights_only=True)
    before = list(torch.serialization.get_safe_globals())
    loaded = safe_torch_load(str(path))
    added = {repr(g) for g in torch.serialization.get_safe_globals()} - {repr(g) for g in before}
    assert not [g for g in added if 'numpy' in g or 'locca' in g], added  # allowed for the call
    assert loaded['meta']['seed'] == 3 and loaded['meta']['dtype'] == np.float32
    np.testing.assert_array_equal(loaded['meta']['mean'], [1.5, 2.5])
    np.testing.assert_array_equal(loaded['meta']['names'], ['a', 'b'])


def test_checkpoints_of_earlier_versions_load(tmp_path):
    # Earlier locca_mm versions stored a HistoryBuffer as a call of
    # locca_mm.utils.mmengine_compat.rebuild_history_buffer (a module that is gone).
    module = types.ModuleType('locca_mm.utils.mmengine_compat')

    def rebuild_history_buffer(log_history, count_history, max_length):
        raise AssertionError('only used to write the file')

    rebuild_history_buffer.__module__ = module.__name__
    rebuild_history_buffer.__qualname__ = 'rebuild_history_buffer'
    module.rebuild_history_buffer = rebuild_history_buffer

    class Old:

        def __reduce__(self):
            return rebuild_history_buffer, ([1.0, 2.0], [1, 1], 5)

    sys.modules[module.__name__] = module
    try:
        path = tmp_path / 'old.pth'
        torch.save({'message_hub': {'log_scalars': {'loss': Old()}}}, path)
    finally:
        del sys.modules[module.__name__]
    buf = safe_torch_load(str(path))['message_hub']['log_scalars']['loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 1.5 and buf.max_length == 5


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


def test_numpy_object_array_cannot_smuggle_code(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil_array.pth'
    torch.save({'meta': np.array([_RunsCode(marker)], dtype=object)}, path)
    with pytest.raises(CheckpointLoadError, match='evil_array.pth'):
        safe_torch_load(str(path))
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
