"""DataStatsHook: counts of what the data pipeline skipped, cut or dropped."""
import logging
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from locca_mm.registry import HOOKS

#: Counters the pipeline writes into ``data_sample.metainfo['data_stats']``.
STAT_KEYS = ('skipped_invalid', 'truncated', 'dropped_regions')


def _unwrap(dataset):
    while hasattr(dataset, 'dataset') and not hasattr(dataset, 'num_invalid'):
        dataset = dataset.dataset
    return dataset


@HOOKS.register_module()
class DataStatsHook(Hook):
    """Add up ``data_stats`` over data workers and ranks; log and checkpoint the totals.

    - ``invalid_annotations``: records dropped while the annotation files were
      read (``skip_invalid=True``), from the train dataset;
    - ``skipped_invalid``: samples replaced in the workers (missing or corrupt
      images, ...);
    - ``truncated``: task sequences cut to the tokenizer's max length;
    - ``dropped_regions``: regions removed or made degenerate by geometry, and objects
      left out of a detection sequence (over ``max_boxes`` or ``max_length``).

    The counts are summed over ranks after every iteration (a 3-number
    all-reduce) so that a checkpoint, which only the main process writes,
    always holds the current totals. They are logged every ``interval``
    iterations (and at the end), kept in the message hub
    (``runtime_info['data_stats']``), written to every checkpoint's
    ``meta['data_stats']`` and restored on resume.

    Args:
        interval (int): iterations between reductions and log lines. Defaults to 50.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50):
        self.interval = interval
        self.totals: Dict[str, int] = {}
        self._pending = torch.zeros(len(STAT_KEYS), dtype=torch.float64)

    def before_train(self, runner) -> None:
        dataset = _unwrap(runner.train_dataloader.dataset)
        self.totals.setdefault('invalid_annotations', int(getattr(dataset, 'num_invalid', 0)))
        for k in STAT_KEYS:
            self.totals.setdefault(k, 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        for sample in (data_batch or {}).get('data_samples', []) or []:
            stats = getattr(sample, 'metainfo', {}).get('data_stats')
            if stats:
                for i, k in enumerate(STAT_KEYS):
                    self._pending[i] += stats.get(k, 0)
        self._flush(runner, log=self.every_n_train_iters(runner, self.interval)
                    or self.is_last_train_iter(runner))

    def _flush(self, runner, log: bool = False) -> None:
        pending = self._pending.clone()
        if get_dist_info()[1] > 1:
            all_reduce(pending, op='sum')
        self._pending.zero_()
        for i, k in enumerate(STAT_KEYS):
            self.totals[k] = self.totals.get(k, 0) + int(pending[i])
        runner.message_hub.update_info('data_stats', dict(self.totals))
        if log and any(self.totals.values()):
            print_log('data: ' + ', '.join(f'{k} {v}' for k, v in self.totals.items()),
                      logger='current', level=logging.INFO)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Main process only (Runner.save_checkpoint is master_only): no collective here.
        checkpoint.setdefault('meta', {})['data_stats'] = dict(self.totals)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get('data_stats')
        if saved:
            self.totals = {k: int(v) for k, v in saved.items()}
