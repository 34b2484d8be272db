"""Optimizers, optimizer wrappers and their constructors."""
from .adafactor import ScalingViTAdafactor, second_moment_decay
from .autocast_optim_wrapper import AutocastOptimWrapper
from .kernel_decay import KernelDecayOptimWrapperConstructor
from .layer_decay_optim_wrapper_constructor import LayerDecayOptimWrapperConstructor

__all__ = [
    'AutocastOptimWrapper', 'KernelDecayOptimWrapperConstructor',
    'LayerDecayOptimWrapperConstructor', 'ScalingViTAdafactor',
    'second_moment_decay'
]
