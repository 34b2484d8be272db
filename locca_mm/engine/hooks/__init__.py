"""Hooks."""
from .data_stats_hook import DataStatsHook
from .reliability_hooks import NonFiniteLossError, NonFiniteLossHook, PreemptionHook, StepSeedHook

__all__ = [
    'DataStatsHook', 'StepSeedHook', 'PreemptionHook', 'NonFiniteLossHook', 'NonFiniteLossError'
]
