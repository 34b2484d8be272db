"""The mmengine 0.10.7 compatibility layer, in one place: what mmengine needs on the torch
this package pins (>= 2.6), and nothing else.

- :mod:`.checkpoint_io`: checkpoints that load with ``torch.load(weights_only=True)``
  (mmengine's ``HistoryBuffer`` and numpy objects written as plain arrays), read safely.
- :mod:`.weights_only_checkpoint_hook`: :class:`WeightsOnlyCheckpointHook`, which writes
  them under a plain ``Runner`` (no fix applied): every config's default.
- :mod:`.runtime_fixes`: :func:`apply_runtime_fixes`, what the tools apply to mmengine
  (resume through the safe loader, distributed training on CPU).
- :mod:`.log_filters`: mmengine's own deprecation notices kept out of the tools' output.
"""
from .checkpoint_io import safe_torch_load
from .log_filters import quiet_dependency_deprecations
from .runtime_fixes import apply_runtime_fixes, runtime_fixes_applied
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['safe_torch_load', 'quiet_dependency_deprecations', 'apply_runtime_fixes',
           'runtime_fixes_applied', 'WeightsOnlyCheckpointHook']
