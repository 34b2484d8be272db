"""Registries: scoped children of mmengine's roots, reachable from other projects."""
import subprocess
import sys

import pytest
from mmengine import registry as mmengine_registry

from locca_mm import registry
from tests.conftest import ROOT, tool_env

# Each locca_mm node and the mmengine root it must hang under.
PARENTS = {
    'MODELS': 'MODELS', 'DATASETS': 'DATASETS', 'TRANSFORMS': 'TRANSFORMS',
    'METRICS': 'METRICS', 'OPTIMIZERS': 'OPTIMIZERS', 'HOOKS': 'HOOKS',
    'OPTIM_WRAPPER_CONSTRUCTORS': 'OPTIM_WRAPPER_CONSTRUCTORS', 'VISUALIZERS': 'VISUALIZERS',
    'OPTIM_WRAPPERS': 'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS': 'PARAM_SCHEDULERS',
    'LOOPS': 'LOOPS', 'EVALUATORS': 'EVALUATOR', 'DATA_SAMPLERS': 'DATA_SAMPLERS',
}


@pytest.mark.parametrize('name', sorted(PARENTS))
def test_nodes_are_scoped_children_of_mmengine_roots(name):
    node = getattr(registry, name)
    assert node.scope == 'locca_mm'
    assert node.parent is getattr(mmengine_registry, PARENTS[name])
    assert node._locations and all(loc.startswith('locca_mm.') for loc in node._locations)


def test_tokenizers_registry_is_scoped():
    assert registry.TOKENIZERS.scope == 'locca_mm'
    assert registry.TOKENIZERS.name == 'tokenizer'


def test_children_fall_back_to_mmengine():
    # An mmengine class resolves through our node (the parent is searched).
    assert registry.OPTIM_WRAPPERS.get('OptimWrapper').__name__ == 'OptimWrapper'
    assert registry.HOOKS.get('CheckpointHook').__name__ == 'CheckpointHook'


FOREIGN_CONFIG = """
default_scope = 'mmdet'
custom_imports = dict(imports=['locca_mm'], allow_failed_imports=False)
optim_wrapper = dict(type='locca_mm.AutocastOptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1))
"""

FOREIGN_SCRIPT = """
import sys, torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmdet.registry import OPTIM_WRAPPERS
cfg = Config.fromfile(sys.argv[1])
DefaultScope.get_instance('foreign', scope_name=cfg.default_scope)
model = torch.nn.Linear(2, 2)
from mmengine.optim import build_optim_wrapper
wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
print(type(wrapper).__module__ + '.' + type(wrapper).__name__)
"""


@pytest.mark.slow
def test_foreign_config_builds_locca_mm_type_through_custom_imports(tmp_path):
    """An mmdet-scoped config reaches `locca_mm.X` after custom_imports, in a fresh process."""
    cfg = tmp_path / 'foreign.py'
    cfg.write_text(FOREIGN_CONFIG)
    proc = subprocess.run([sys.executable, '-c', FOREIGN_SCRIPT, str(cfg)], cwd=ROOT,
                          env=tool_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == (
        'locca_mm.engine.optimizers.autocast_optim_wrapper.AutocastOptimWrapper')


def test_scope_prefix_reaches_testing_model_from_mmdet_registry():
    from mmdet.registry import MODELS as MMDET_MODELS

    import tests.toy  # noqa: F401
    model = MMDET_MODELS.build(dict(type='locca_mm.ToyRegressor', dim=3))
    assert type(model).__name__ == 'ToyRegressor'

