"""``import locca_mm`` changes nothing outside the package; ``apply_runtime_fixes`` is narrow."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, tool_env

_SNAPSHOT = r'''
import copyreg, json, sys
import torch
import mmengine.dist.utils as dist_utils
from mmengine.runner import checkpoint, runner, _flexible_runner, Runner, FlexibleRunner

def snapshot():
    out = {}
    for mod in (checkpoint, runner, _flexible_runner):
        for name in ('save_checkpoint', 'find_latest_checkpoint', 'load_checkpoint',
                     '_load_checkpoint', 'weights_to_cpu'):
            if hasattr(mod, name):
                out[f'{mod.__name__}.{name}'] = id(getattr(mod, name))
    out['schemes'] = {k: id(v) for k, v in checkpoint.CheckpointLoader._schemes.items()}
    for cls in (Runner, FlexibleRunner):
        for name, value in vars(cls).items():
            if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                out[f'{cls.__name__}.{name}'] = id(value)
    for name in dir(dist_utils):
        out[f'dist_utils.{name}'] = id(getattr(dist_utils, name))
    # Third-party modules imported on the way (regex, scipy, torch._dynamo) add their own
    # entries; what this package, mmengine or numpy could be given is watched.
    ours = ('locca', 'mmengine', 'numpy', 'HistoryBuffer')
    out['safe_globals'] = sorted(r for r in map(repr, torch.serialization.get_safe_globals())
                                 if any(o in r for o in ours))
    out['copyreg'] = sorted(r for r in map(repr, copyreg.dispatch_table)
                            if any(o in r for o in ours))
    from mmengine.config import utils as config_utils
    out['MODULE2PACKAGE'] = sorted(config_utils.MODULE2PACKAGE.items())
    out['torch.load'] = id(torch.load)
    out['torch.save'] = id(torch.save)
    out['set_device'] = id(torch.cuda.set_device)
    return out

before = snapshot()
import locca_mm
import locca_mm.apis, locca_mm.datasets, locca_mm.engine, locca_mm.evaluation, locca_mm.models
import locca_mm.visualization
from locca_mm.utils import register_all_modules
register_all_modules()
after = snapshot()
changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
added = sorted(set(map(tuple, after['MODULE2PACKAGE'])) - set(map(tuple, before['MODULE2PACKAGE'])))
import locca_mm.compat
locca_mm.compat.apply_runtime_fixes()
fixed = snapshot()
patched = sorted(k for k in set(after) | set(fixed) if after.get(k) != fixed.get(k))
locca_mm.compat.apply_runtime_fixes()
print(json.dumps(dict(changed=changed, added=added, patched=patched, again=snapshot() == fixed)))
'''


@pytest.mark.slow
def test_import_changes_nothing_outside_the_package_and_the_fixes_are_narrow():
    proc = subprocess.run([sys.executable, '-c', _SNAPSHOT], cwd=ROOT, env=tool_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # One entry is added: the table that lets configs name `locca_mm::<config>` as a base.
    assert result['changed'] == ['MODULE2PACKAGE']
    assert result['added'] == [['locca_mm', 'locca_mm']]
    # What apply_runtime_fixes() patches, exactly (its module docstring lists the same).
    assert result['patched'] == [
        'Runner.wrap_model',
        'dist_utils._init_dist_mpi', 'dist_utils._init_dist_pytorch', 'dist_utils._init_dist_slurm',
        'mmengine.runner._flexible_runner.find_latest_checkpoint',
        'mmengine.runner.checkpoint.find_latest_checkpoint',
        'mmengine.runner.checkpoint.save_checkpoint',
        'mmengine.runner.runner.find_latest_checkpoint',
        'mmengine.runner.runner.save_checkpoint',
        'schemes',
    ], result['patched']
    assert result['again']  # idempotent


def test_cpu_ddp_wrapper_cfg_drops_device_ids():
    from locca_mm.compat.runtime_fixes import cpu_model_wrapper_cfg
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
