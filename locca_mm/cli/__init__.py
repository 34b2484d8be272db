"""What ``tools/`` share: reading a config, building its runner, failing cleanly
(:mod:`.common`), and the evaluation suite's bookkeeping (:mod:`.eval_suite`). The top
floor of the package: it may use every other layer (``docs/architecture.md``)."""
from .common import *  # noqa: F401,F403
from .common import __all__  # noqa: F401
