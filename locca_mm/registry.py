"""Registries of locca_mm: children of mmengine's roots, scoped ``'locca_mm'``.

Every node searches its parent (mmengine's root) for a key it does not hold, so
``type='AdamW'`` or ``type='IterTimerHook'`` resolve from a ``locca_mm`` config,
and another OpenMMLab project reaches ours with the scope prefix
(``type='locca_mm.LocCaViT'``) once ``custom_imports=dict(imports=['locca_mm'])``
has imported the package. ``locations`` lets a registry import the modules
that fill it the first time a key is looked up.

``TOKENIZERS`` is new: text tokenizers and the box tokenizer are built from one
config entry shared by the data pipeline (encoding) and the model (decoding).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'STRATEGIES',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'TOKENIZERS',
    'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS'
]

# Runtime: runners, loops, hooks, logging.
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, locations=['locca_mm.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, locations=['locca_mm.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['locca_mm.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS,
                 locations=['locca_mm.engine', 'locca_mm.compat'])
LOG_PROCESSORS = Registry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, locations=['locca_mm.engine'])
# FlexibleRunner strategies (FSDP2Strategy).
STRATEGIES = Registry('strategy', parent=MMENGINE_STRATEGIES, locations=['locca_mm.engine'])

# Optimisation.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['locca_mm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['locca_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['locca_mm.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['locca_mm.engine'])

# Data.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, locations=['locca_mm.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['locca_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, locations=['locca_mm.datasets'])

# Models.
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['locca_mm.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['locca_mm.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['locca_mm.models'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, locations=['locca_mm.models'])
# Text tokenizers and BoxTokenizer: one config entry, shared by pipeline and model.
TOKENIZERS = Registry('tokenizer', locations=['locca_mm.tokenizers'], scope='locca_mm')

# Evaluation and visualisation.
METRICS = Registry('metric', parent=MMENGINE_METRICS, locations=['locca_mm.evaluation'])
EVALUATORS = Registry('evaluator', parent=MMENGINE_EVALUATOR, locations=['locca_mm.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['locca_mm.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['locca_mm.visualization'])

# Inference on images outside a runner (LocCaInferencer and the task-named ones).
INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS, locations=['locca_mm.apis'])
