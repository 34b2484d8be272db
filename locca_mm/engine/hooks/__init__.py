"""Hooks."""
from .compile_hook import CompileLossHook
from .data_stats_hook import DataStatsHook
from .reliability_hooks import NonFiniteLossError, NonFiniteLossHook, PreemptionHook, StepSeedHook
from .siglip2_hook import SigLIP2StageHook
from .visualization_hook import LocCaVisualizationHook

__all__ = [
    'DataStatsHook', 'StepSeedHook', 'PreemptionHook', 'NonFiniteLossHook', 'NonFiniteLossError',
    'LocCaVisualizationHook', 'SigLIP2StageHook', 'CompileLossHook'
]
