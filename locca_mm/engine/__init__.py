"""Engine pieces: optimizers, optimizer wrappers and hooks."""
from .optimizers import *  # noqa: F401,F403
