"""Tiny registered components for exercising the training tools and the engine.

They train in well under a second on a CPU and are deterministic, so tests of
the runner (resume, distributed sampling, error handling) do not depend on the
real model. Import with ``custom_imports=dict(imports=['locca_mm.testing'])``.
"""
from .toy import (
                  BreakSaveHook,
                  InjectNaNHook,
                  RecordSamplesHook,
                  SignalAtIterHook,
                  ToyMSEMetric,
                  ToyRegressionDataset,
                  ToyRegressor,
)

__all__ = [
    'ToyRegressionDataset', 'ToyRegressor', 'ToyMSEMetric', 'RecordSamplesHook',
    'SignalAtIterHook', 'BreakSaveHook', 'InjectNaNHook'
]
