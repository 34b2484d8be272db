"""What ``tools/`` share: reading a config, building its runner, failing cleanly
(:mod:`.common`); training and evaluating in the tool's own process (:mod:`.runs`); the
evaluation suite's bookkeeping and real-data runs (:mod:`.eval_suite`); the demo's stages
and report (:mod:`.demo`, :mod:`.demo_report`); the benchmarks' measurements (:mod:`.bench`);
the command lines that run in another tool's or a test's process (:mod:`.pseudo_label`,
:mod:`.infer`). The top floor of the package: it may use every other layer
(``docs/architecture.md``); the tools import it, never the other way round."""
from .common import *  # noqa: F401,F403
from .common import __all__  # noqa: F401
