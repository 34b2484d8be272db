"""Optimizers, optimizer wrappers and their constructors."""
from .autocast_optim_wrapper import AutocastOptimWrapper

__all__ = ['AutocastOptimWrapper']
