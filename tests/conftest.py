"""Shared fixtures: paths, running the command-line tools, reading logs."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
from typing import Dict, List, Sequence

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pytest_configure(config):
    """The suite runs in the environment of the tools, which apply the runtime fixes at
    start-up; tests/test_engine/test_runtime_fixes.py and tests/test_config_runs.py check, in
    fresh processes, what a plain import and a plain ``Runner.from_cfg`` do without them."""
    from locca_mm.compat import apply_runtime_fixes
    apply_runtime_fixes()


@pytest.fixture(autouse=True)
def _drop_log_handlers_on_closed_streams():
    """An mmengine logger made during a test writes to that test's captured stdout, which
    pytest closes afterwards; a later test logging through it would print a logging error."""
    yield
    from mmengine.logging import MMLogger
    for logger in list(MMLogger._instance_dict.values()):
        for handler in list(logger.handlers):
            if getattr(getattr(handler, 'stream', None), 'closed', False):
                logger.removeHandler(handler)


TOY_CONFIG = osp.join(ROOT, 'configs', 'toy', 'toy_regression.py')


def tool_env(**extra) -> Dict[str, str]:
    """Environment for a tool subprocess: this interpreter, the repo importable."""
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHON'] = sys.executable
    env['OMP_NUM_THREADS'] = '1'
    env.pop('LOCCA_DEBUG', None)
    env.update(extra)
    return env


# Runs the script named by the next argument as ``__main__``, with the rest as its arguments
# (after ``run_tool``'s ``prelude``): what ``python SCRIPT ARGS...`` does.
_RUN_SCRIPT = """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def run_tool(args: Sequence[str], cwd: str = ROOT, timeout: int = 300, prelude: str = '',
             **env) -> subprocess.CompletedProcess:
    """Run ``tools/<args[0]>`` (a .py with this interpreter, a .sh with bash) in a subprocess.

    ``prelude``: Python code the subprocess runs first, before the tool (a .py), e.g. to
    stand in for what this machine does not have.
    """
    script = osp.join(ROOT, 'tools', args[0])
    if script.endswith('.sh'):
        runner = ['bash']
    elif prelude:
        runner = [sys.executable, '-c', prelude + '\n' + _RUN_SCRIPT]
    else:
        runner = [sys.executable]
    cmd = runner + [script] + list(args[1:])
    return subprocess.run(cmd, cwd=cwd, env=tool_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def tool_error(proc: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line a tool stopped with: exit status 1, no traceback (stderr's
    other lines, such as a dependency's warning, are not the tool's)."""
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def read_scalars(work_dir: str) -> List[dict]:
    """Every record of the LocalVisBackend's ``scalars.json`` under ``work_dir``."""
    records = []
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(dirpath, 'scalars.json'), encoding='utf-8') as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


@pytest.fixture
def toy_config() -> str:
    return TOY_CONFIG


def assert_same_training_state(a: dict, b: dict) -> None:
    """Two checkpoints hold bit-identical weights, optimizer state and scheduler state."""
    import torch
    assert set(a['state_dict']) == set(b['state_dict'])
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), k
    for pid, state in a['optimizer']['state'].items():
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(b['optimizer']['state'][pid][k]))
    assert a['param_schedulers'] == b['param_schedulers']
