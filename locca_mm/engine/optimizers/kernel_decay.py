"""Weight decay on kernels only, as big_vision decays (``.*/kernel$``)."""
import inspect
import logging
from typing import Dict, List, Set

from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from locca_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

__all__ = ['KernelDecayOptimWrapperConstructor', 'kernel_param_ids', 'decay_kernels_only',
           'merge_param_groups', 'optimizer_class']

# Modules whose ``weight`` is a kernel (big_vision's Dense and Conv kernels).
KERNEL_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                  nn.ConvTranspose2d, nn.ConvTranspose3d)


def optimizer_class(optimizer_type):
    """The class an optimizer config's ``type`` names (a class is returned as it is), looked
    up in the current default scope's registry; None for an unknown name."""
    if not isinstance(optimizer_type, str):
        return optimizer_type
    with OPTIMIZERS.switch_scope_and_registry(None) as registry:
        return registry.get(optimizer_type)


def kernel_param_ids(model: nn.Module) -> Set[int]:
    """``id`` of every kernel of ``model``: the weight matrices of linear layers and the
    weights of convolutions (the patch embedding), and ``nn.MultiheadAttention``'s input
    projection. Not kernels: biases, norm scales, token / position / location embeddings,
    class and text-CLS tokens, pooler queries, the contrastive temperature and bias."""
    ids = set()
    for module in model.modules():
        if isinstance(module, KERNEL_MODULES):
            ids.add(id(module.weight))
        elif isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
            ids.add(id(module.in_proj_weight))
    return ids


def decay_kernels_only(params: List[dict], model: nn.Module) -> List[dict]:
    """Set ``weight_decay=0`` in every one-parameter group of ``params`` whose parameter is
    not a kernel of ``model`` (:func:`kernel_param_ids`); kernels keep theirs."""
    kernels = kernel_param_ids(model)
    for group in params:
        if any(id(p) not in kernels for p in group['params']):
            if len(group['params']) != 1:
                raise ValueError('decay_kernels_only needs one parameter per group')
            group['weight_decay'] = 0.0
    return params


def merge_param_groups(params: List[dict]) -> List[dict]:
    """Merge groups with equal options (everything but ``params``), in first-seen order:
    one group per parameter would cost optimizers their batched (foreach) updates."""
    merged: Dict[tuple, dict] = {}
    for group in params:
        key = tuple(sorted((k, repr(v)) for k, v in group.items() if k != 'params'))
        if key in merged:
            merged[key]['params'].extend(group['params'])
        else:
            merged[key] = dict(group, params=list(group['params']))
    return list(merged.values())


class _CountFrozen(logging.Filter):
    """Counts (and drops) mmengine's one-warning-per-frozen-parameter lines."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop, counted) for a frozen-parameter warning, else True."""
        if 'is skipped since its requires_grad=False' in record.getMessage():
            self.count += 1
            return False
        return True


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class KernelDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, with weight decay on kernels only.

    big_vision (and so LocCa and CapPa) decays only parameters named
    ``.*/kernel$``: the matrices of dense layers and the convolution kernels.
    Biases, LayerNorm scales, embeddings (token, position, location), class
    tokens, attention-pooler queries and the contrastive temperature are not
    decayed. mmengine's ``paramwise_cfg`` (``custom_keys`` lr/decay multipliers,
    ``bias_decay_mult``, ...) still applies on top; a non-kernel's decay is 0
    whatever it says. The param groups are merged by their options, so a
    model has a handful of groups, not one per parameter. Frozen parameters
    (the REC protocol's encoder) are reported in one line, not one warning each.

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='KernelDecayOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
    """

    def __call__(self, model: nn.Module):
        """The optimizer wrapper of ``model``: mmengine's param groups, kernels-only decay."""
        if hasattr(model, 'module'):
            model = model.module
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_class(optimizer_cfg['type'])
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        params: List[dict] = []
        frozen = _CountFrozen()
        logger = MMLogger.get_current_instance()
        logger.addFilter(frozen)
        try:
            self.add_params(params, model)
        finally:
            logger.removeFilter(frozen)
        if frozen.count:
            print_log(f'{frozen.count} parameters with requires_grad=False are not updated',
                      logger='current', level=logging.INFO)
        optimizer_cfg[first_arg] = merge_param_groups(decay_kernels_only(params, model))
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        return OPTIM_WRAPPERS.build(optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
