"""A log filter for mmengine 0.10.7's own deprecation notices in the tools' output."""
import logging

__all__ = ['quiet_dependency_deprecations', 'DEPENDENCY_DEPRECATIONS']

# Deprecation notices that mmengine 0.10.7 logs from inside its own hooks (CheckpointHook and
# LoggerHook build a FileClient whatever their arguments): nothing a user can act on.
DEPENDENCY_DEPRECATIONS = ('"FileClient" will be deprecated',
                           '"HardDiskBackend" is the alias of "LocalBackend"')


class _DropDependencyDeprecations(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in DEPENDENCY_DEPRECATIONS)


def quiet_dependency_deprecations(runner):
    """Drop :data:`DEPENDENCY_DEPRECATIONS` from ``runner``'s log (the tools' console
    output); every other warning, and everything in the test suite, stays."""
    if not any(isinstance(f, _DropDependencyDeprecations) for f in runner.logger.filters):
        runner.logger.addFilter(_DropDependencyDeprecations())
    return runner
