"""Config helpers every layer may use: the setup error of tools, and a dataset config's
leaves."""
from typing import Iterator

__all__ = ['SetupError', 'leaf_datasets']


class SetupError(Exception):
    """A run failed before its first iteration (bad config, file or argument)."""


def leaf_datasets(dataset) -> Iterator[dict]:
    """The leaf dataset configs of a dataset config, through mixing / concatenation
    wrappers (``datasets=[...]``) and repeat-style ones (``dataset=dict(...)``); they are
    the config's own dicts, so changes to them change the config."""
    if not isinstance(dataset, dict):
        return
    if 'datasets' in dataset:
        for d in dataset['datasets']:
            yield from leaf_datasets(d)
    elif isinstance(dataset.get('dataset'), dict):
        yield from leaf_datasets(dataset['dataset'])
    else:
        yield dataset
