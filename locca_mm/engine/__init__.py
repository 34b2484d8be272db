"""Engine pieces: optimizers, optimizer wrappers and hooks."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
