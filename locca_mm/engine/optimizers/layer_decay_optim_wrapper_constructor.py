"""Layer-wise learning-rate decay for transfer (mmpretrain's constructor, made model-agnostic)."""
import functools
import inspect
from typing import Callable, List, Optional

from mmpretrain.engine.optimizers.layer_decay_optim_wrapper_constructor import (
    LearningRateDecayOptimWrapperConstructor,
)
from torch import nn

from locca_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

from .kernel_decay import decay_kernels_only, optimizer_class

__all__ = ['LayerDecayOptimWrapperConstructor', 'NO_DECAY_KEYS']

# Parameters that are not kernels: big_vision decays only ``.*/kernel$``.
NO_DECAY_KEYS = {'pos_embed': dict(decay_mult=0.0), 'cls_token': dict(decay_mult=0.0)}


def _default_weight_decay(optimizer_type) -> float:
    """The ``weight_decay`` an optimizer class uses when its config names none."""
    optimizer_type = optimizer_class(optimizer_type)
    if optimizer_type is None:
        return 0.0  # unknown type: building the optimizer will raise the error
    arg = inspect.signature(optimizer_type).parameters.get('weight_decay')
    return 0.0 if arg is None or arg.default is inspect.Parameter.empty else arg.default


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """Learning rate ``lr · layer_decay_rate ** (L - 1 - depth)`` for each parameter.

    ``depth, L = get_layer_depth(name)``: for ``LocCaViT`` (as for mmpretrain's
    ``VisionTransformer``) patch/position embeddings are depth 0, block ``i`` is
    ``i + 1`` and everything else ``L - 1`` with ``L = num_layers + 2``. So the
    embeddings get the smallest lr, block ``i`` gets ``lr · rate ** (L - 2 - i)``
    and heads, necks and the final norm get ``lr`` itself: the backbone's
    ``get_layer_depth(name, 'backbone.')`` puts every name outside its prefix at
    ``L - 1``, exactly as mmpretrain's ``ImageClassifier`` does.

    This is mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` with
    three changes, which is why it is a subclass and not that class re-registered:

    - mmpretrain asks the *model* for ``get_layer_depth`` (its classifiers have
      one); mmdet detectors, mmseg segmentors and our ``LocCa`` need not, so when
      the model lacks it the constructor asks ``model.backbone`` with prefix
      ``'backbone.'``.
    - Weight decay goes to kernels only, as in big_vision
      (:func:`~locca_mm.engine.optimizers.kernel_decay.decay_kernels_only`: biases,
      norms, embeddings, class tokens and any other non-kernel get none, as with
      :class:`KernelDecayOptimWrapperConstructor`). mmpretrain does something
      like it only when a config says so (its MAE/BEiT fine-tuning configs set
      ``flat_decay_mult`` and ``custom_keys``). ``paramwise_cfg.kernels_only=False``
      gives mmpretrain's rules instead, starting from ``flat_decay_mult=0`` and
      :data:`NO_DECAY_KEYS`, which the config may then override.
    - An optimizer config without ``weight_decay`` keeps the optimizer's own
      default; mmpretrain's constructor fails on a missing ``weight_decay``.

    As in mmpretrain, ``custom_keys`` set ``decay_mult`` (any other field is
    copied into the param group as is; ``lr_mult`` has no effect) and
    parameters with ``requires_grad=False`` are left out of the optimizer.

    Args:
        optim_wrapper_cfg (dict): The optimizer wrapper config, with ``optimizer``.
        paramwise_cfg (dict, optional): ``layer_decay_rate`` (default 1.0),
            ``kernels_only`` (default True), and with ``kernels_only=False``
            ``flat_decay_mult`` (default 0.0), ``bias_decay_mult``,
            ``norm_decay_mult``, ``custom_keys``.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        ...     constructor='locca_mm.LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.75))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        self.kernels_only = bool(paramwise_cfg.pop('kernels_only', True))
        paramwise_cfg.setdefault('flat_decay_mult', 0.0)
        paramwise_cfg['custom_keys'] = {**NO_DECAY_KEYS, **paramwise_cfg.get('custom_keys', {})}
        optim_wrapper_cfg = dict(optim_wrapper_cfg)
        optimizer_cfg = dict(optim_wrapper_cfg['optimizer'])
        optimizer_cfg.setdefault('weight_decay', _default_weight_decay(optimizer_cfg['type']))
        optim_wrapper_cfg['optimizer'] = optimizer_cfg
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        """Append one param group per parameter of ``module`` to ``params``.

        Args:
            params (list[dict]): Param groups, extended in place.
            module (nn.Module): The model (the top call) or one of its children.
            prefix (str): Name prefix of ``module``'s parameters.
            get_layer_depth (callable, optional): ``name -> (depth, L)``; found on
                the model, else on ``model.backbone``, when not given.
        """
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise NotImplementedError(
                    f'Layer-wise lr decay needs get_layer_depth(name) on the model '
                    f'{type(module).__name__} or on its backbone {type(backbone).__name__}')
            get_layer_depth = functools.partial(backbone.get_layer_depth, prefix='backbone.')
        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
        if prefix == '' and self.kernels_only:  # the top call, after the recursion
            decay_kernels_only(params, module)
