"""LocCaBaseDataset: what every locca_mm dataset shares.

- One data-info format for every source (see :class:`LocCaBaseDataset`).
- Bad input is never trained on silently: a malformed record raises
  :class:`InvalidRecordError` naming the file and the record; with
  ``skip_invalid=True`` it is skipped and counted instead. Records found bad
  while the annotation file is read are dropped once (``num_invalid`` and a
  log line); records found bad in a data worker (a missing or corrupt image)
  are replaced by the next record, and the replacement carries the count in
  its ``data_stats`` so that :class:`DataStatsHook` can add it up over workers
  and ranks.
- The pipeline's ``BuildTaskSequences`` tokenises as the model decodes: the
  config gives the dataset the model's tokenizer (``tokenizer=``, one config
  entry for both) and the dataset hands it on to the steps that tokenise.
"""
import copy
import logging
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from locca_mm.registry import DATASETS


class InvalidRecordError(ValueError):
    """A record that cannot be trained on; the message names its file and record."""


def invalid(source: str, reason: str) -> InvalidRecordError:
    """An :class:`InvalidRecordError` whose message starts with the record's location."""
    return InvalidRecordError(f'{source}: {reason}')


def under_root(path: str, root: Optional[str]) -> str:
    """``path`` under ``root`` (a dataset's ``data_root``) unless it is absolute or there is
    no root: the rule mmengine applies to ``ann_file``, for a dataset's other files."""
    return path if not path or osp.isabs(path) or not root else osp.join(root, path)


def empty_regions() -> Dict[str, Any]:
    return dict(bboxes=np.zeros((0, 4), dtype=np.float32), texts=[],
                scores=np.zeros((0, ), dtype=np.float32))


def make_regions(bboxes: Sequence, texts: Sequence[str], scores: Optional[Sequence] = None
                 ) -> Dict[str, Any]:
    """The regions of a data info: ``bboxes`` [N, 4] xyxy original pixels, ``texts``, ``scores``."""
    n = len(texts)
    return dict(
        bboxes=np.asarray(bboxes, dtype=np.float32).reshape(n, 4),
        texts=list(texts),
        scores=np.ones(n, dtype=np.float32) if scores is None
        else np.asarray(scores, dtype=np.float32).reshape(n))


def check_text(value: Any, source: str, what: str) -> str:
    """A non-empty string (stripped), else :class:`InvalidRecordError`."""
    if not isinstance(value, str):
        raise invalid(source, f'{what} must be a string, got {type(value).__name__}')
    if not value.strip():
        raise invalid(source, f'empty {what}')
    return value.strip()


#: The smallest width/height (pixels) of a box, and of its part inside the image: anything
#: thinner is degenerate (its location tokens coincide; float32 or a CPU that flushes
#: denormals can make it zero-sized).
MIN_BOX_SIZE = 0.01


def check_box(box: Any, source: str, what: str = 'box', width: Optional[float] = None,
              height: Optional[float] = None) -> List[float]:
    """A finite xyxy box with positive width and height that overlaps the image.

    Boxes that reach beyond the image are kept (the pipeline clips them); a
    box entirely outside the image, or with w/h (or the part inside the image)
    below :data:`MIN_BOX_SIZE`, is invalid.
    """
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise invalid(source, f'{what} must be 4 numbers [x1, y1, x2, y2], got {box!r}') from None
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise invalid(source, f'{what} has a non-finite coordinate: {box!r}')
    if x2 - x1 < MIN_BOX_SIZE or y2 - y1 < MIN_BOX_SIZE:
        raise invalid(source, f'{what} {box!r} has width or height <= 0 (below '
                      f'{MIN_BOX_SIZE} px)')
    right = x2 if width is None else min(x2, width)
    bottom = y2 if height is None else min(y2, height)
    if right - max(x1, 0.0) < MIN_BOX_SIZE or bottom - max(y1, 0.0) < MIN_BOX_SIZE:
        raise invalid(source, f'{what} {box!r} lies outside the {width}x{height} image')
    return [x1, y1, x2, y2]


@DATASETS.register_module()
class LocCaBaseDataset(BaseDataset):
    """Base of the locca_mm datasets.

    Every data info (one per sample) holds:

    - ``img_path`` (str) or ``img`` (an image already in memory) or
      ``img_bytes`` (encoded bytes, e.g. from a tar shard);
    - ``source`` (str): where the record comes from, e.g. ``'train.jsonl:17'``;
    - ``captions`` (list of str, may be empty);
    - ``regions``: ``dict(bboxes=[N, 4] xyxy original pixels, texts=[N], scores=[N])``;
    - for evaluation, ``task`` (``'cap'``/``'ref'``/``'gcap'``) and its prompt:
      ``ref_text`` + ``ref_bbox`` (RefCOCO), or ``prompt_box``.

    Args:
        skip_invalid (bool): skip malformed records (counted and logged)
            instead of raising. Defaults to False.
        tokenizer (dict, optional): the model's ``LocCaTokenizer`` config, given
            to every ``BuildTaskSequences`` / ``BuildDetectionSequence`` in
            ``pipeline`` that has none. A training pipeline that tokenises
            needs it here or on its steps.
        max_refetch (int): how many replacements to try for an invalid sample.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO: dict = dict()

    def __init__(self,
                 *args,
                 skip_invalid: bool = False,
                 tokenizer: Optional[dict] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 max_refetch: int = 100,
                 **kwargs):
        self.skip_invalid = skip_invalid
        self.num_invalid = 0
        self._num_skipped_here = 0
        pipeline = [self._with_tokenizer(t, tokenizer) for t in pipeline]
        super().__init__(*args, pipeline=pipeline, max_refetch=max_refetch, **kwargs)

    @staticmethod
    def _with_tokenizer(transform, tokenizer):
        if tokenizer is not None and isinstance(transform, dict) and \
                transform.get('type', '').split('.')[-1] in (
                    'BuildTaskSequences', 'BuildDetectionSequence') and \
                transform.get('tokenizer') is None:
            transform = dict(transform, tokenizer=copy.deepcopy(tokenizer))
        return transform

    # ------------------------------------------------------------ annotations
    def parse_records(self, records, parse: Callable[[Any], Optional[dict]]) -> List[dict]:
        """Parse ``records`` with ``parse``; invalid ones raise or are dropped and counted.

        ``parse`` returns a data info, or None to leave a record out on purpose
        (not an error: e.g. an image without annotations of the wanted kind).
        """
        infos = []
        first_error = None
        for record in records:
            try:
                info = parse(record)
            except InvalidRecordError as e:
                if not self.skip_invalid:
                    raise
                self.num_invalid += 1
                first_error = first_error or str(e)
                continue
            if info is not None:
                infos.append(info)
        if self.num_invalid:
            print_log(f'{type(self).__name__}: skipped {self.num_invalid} invalid records of '
                      f'{self.ann_file or "the dataset"} (skip_invalid=True); first: '
                      f'{first_error}', logger='current', level=logging.WARNING)
        return infos

    # ------------------------------------------------------------ samples
    def __getitem__(self, idx: int) -> dict:
        """The pipeline's output for ``idx`` (see the class docstring for invalid records)."""
        if not self._fully_initialized:
            self.full_init()
        skipped = 0
        for _ in range(self.max_refetch + 1):
            try:
                data = self.prepare_data(idx)
            except InvalidRecordError as e:
                if not self.skip_invalid or self.test_mode:
                    raise
                skipped += 1
                self._num_skipped_here += 1
                if self._num_skipped_here <= 10 or self._num_skipped_here % 1000 == 0:
                    print_log(f'skipping invalid sample ({self._num_skipped_here} so far in '
                              f'this worker): {e}', logger='current', level=logging.WARNING)
                idx = (idx + 1) % len(self)
                continue
            if data is None:
                if self.test_mode:
                    raise RuntimeError(f'the pipeline dropped test sample {idx}')
                idx = (idx + 1) % len(self)
                continue
            if skipped:
                add_stats(data, skipped_invalid=skipped)
            return data
        raise RuntimeError(f'{type(self).__name__}: no valid sample within {self.max_refetch} '
                           f'records after index {idx}; check the data (skip_invalid=True)')


def add_stats(data: dict, **counts: int) -> None:
    """Add counts to a sample's ``data_stats`` (a packed sample or a pipeline dict)."""
    target = data.get('data_samples') if 'data_samples' in data else None
    if target is not None:
        stats = dict(target.metainfo.get('data_stats', {}))
        for k, v in counts.items():
            stats[k] = stats.get(k, 0) + v
        target.set_metainfo(dict(data_stats=stats))
    else:
        stats = data.setdefault('data_stats', {})
        for k, v in counts.items():
            stats[k] = stats.get(k, 0) + v
