"""Hooks."""
from .data_stats_hook import DataStatsHook

__all__ = ['DataStatsHook']
