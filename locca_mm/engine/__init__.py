"""Engine pieces: optimizers, optimizer wrappers, hooks and training strategies."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runtime_fixes import apply_runtime_fixes, runtime_fixes_applied  # noqa: F401
from .strategies import *  # noqa: F401,F403
