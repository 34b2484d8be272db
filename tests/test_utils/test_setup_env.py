"""register_all_modules (utils/setup_env.py): every library module registered, the default
scope set, and nothing the tests define."""
import subprocess
import sys

import pytest
from mmengine.registry import DefaultScope

from locca_mm import registry
from tests.conftest import ROOT, tool_env


def test_register_all_modules_sets_default_scope():
    from locca_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'locca_mm'
    assert registry.OPTIM_WRAPPERS.get('AutocastOptimWrapper') is not None


TEST_ONLY = ('Toy', 'InjectNaNHook', 'BreakSaveHook', 'RecordSamplesHook', 'SignalAtIterHook')

REGISTERED_SCRIPT = """
import sys
import mmengine.registry as roots
import locca_mm
from locca_mm import registry
from locca_mm.utils import register_all_modules
register_all_modules()
for node in [getattr(registry, n) for n in registry.__all__] + [
        v for v in vars(roots).values() if isinstance(v, roots.Registry)]:
    for key, cls in node.module_dict.items():
        print(node.scope, node.name, key, getattr(cls, '__module__', ''), sep='\\t')
print('tests-imported', any(m == 'tests' or m.startswith('tests.') for m in sys.modules))
"""


@pytest.mark.slow
def test_the_package_registers_no_test_only_module():
    """A fresh ``import locca_mm`` + ``register_all_modules()`` leaves the toy model, dataset,
    metric and fault-injecting hooks (tests/toy.py) out of every registry."""
    proc = subprocess.run([sys.executable, '-c', REGISTERED_SCRIPT], cwd=ROOT, env=tool_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == 'tests-imported False'
    rows = [line.split('\t') for line in lines[:-1]]
    assert any(key == 'LocCa' for _, _, key, _ in rows)  # the listing is not empty
    offenders = [row for row in rows
                 if row[2].startswith(TEST_ONLY) or row[3].split('.')[0] == 'tests']
    assert not offenders, offenders
