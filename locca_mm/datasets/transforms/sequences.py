"""BuildTaskSequences: tokenise the Cap / ARef / GCap sequences in the data workers."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from locca_mm.registry import TRANSFORMS
from locca_mm.structures import box_frame
from locca_mm.structures.tasks import BOX_TASKS, TRAIN_TASKS, check_train_tasks
from locca_mm.tokenizers.builder import build_tokenizer

from ..base import add_stats, invalid


def pipeline_tokenizer(tokenizer, owner: str):
    """The ``LocCaTokenizer`` a pipeline transform (``owner``) tokenises with (a config
    or an object); a clear error without one."""
    if tokenizer is None:
        raise ValueError(
            f'{owner} has no tokenizer: give its dataset the model\'s (in a config that '
            'inherits a model base, `train_dataloader = dict(dataset=dict('
            'tokenizer=_base_.tokenizer))`), or the transform `tokenizer=...`')
    return build_tokenizer(tokenizer)


@TRANSFORMS.register_module()
class BuildTaskSequences(BaseTransform):
    """Turn the sample's caption and sampled regions into token sequences.

    Uses the model's ``LocCaTokenizer``, given here or by the dataset (a
    :class:`~locca_mm.datasets.LocCaBaseDataset` hands its ``tokenizer=`` on
    to its pipeline). Every sample is stamped with the tokenizer's
    :attr:`~locca_mm.tokenizers.LocCaTokenizer.signature`, which the model
    checks against its own. Boxes are quantised in the frame the encoder sees
    (the padded input if padded, else the image).

    - ``cap``: one caption, drawn at random when the sample has several
      (``caption='random'``) or the first (``'first'``). A sample with a
      ``question`` (VQA) trains its answer: ``captions`` holds the answers
      (repeated as often as annotators gave them, so a random draw follows
      their frequency) and the question joins the Cap prompt.
    - ``aref`` / ``gcap``: the regions chosen by :class:`SampleRegions`.

    A task without its text is left out of the sample; a sample with no task
    at all is an invalid record. Sequences cut to the tokenizer's max length
    are counted in ``data_stats`` (``truncated``).

    Required keys: ``captions``, ``sampled_regions`` (for region tasks),
    ``img_shape``/``pad_shape``. Added: ``task_sequences``, ``gt_caption``,
    ``tokenizer_signature``.

    Args:
        tokenizer (dict): the ``LocCaTokenizer`` config (or object), the
            model's; None only where the dataset gives it.
        tasks (Sequence[str]): tasks to build, among
            :data:`~locca_mm.structures.tasks.TRAIN_TASKS`. Defaults to all three.
        caption (str): ``'random'`` or ``'first'``. Defaults to ``'random'``.
    """

    def __init__(self, tokenizer=None, tasks: Sequence[str] = TRAIN_TASKS,
                 caption: str = 'random'):
        if caption not in ('random', 'first'):
            raise ValueError(f"caption must be 'random' or 'first', got {caption!r}")
        self.tokenizer = pipeline_tokenizer(tokenizer, type(self).__name__)
        self.tasks, self.caption = check_train_tasks(tasks, allow_empty=True), caption

    def transform(self, results: dict) -> Optional[dict]:
        """Add ``task_sequences`` (and ``gt_caption``) to ``results``; see the class docstring."""
        source = results.get('source', '?')
        seqs = {}
        try:
            captions = results.get('captions') or []
            if 'cap' in self.tasks and captions:
                cap = captions[np.random.randint(len(captions))] \
                    if self.caption == 'random' else captions[0]
                results['gt_caption'] = cap
                seqs['cap'] = self.tokenizer.build('cap', text=cap,
                                                   question=results.get('question'))
            frame = box_frame(results)
            for task in BOX_TASKS:
                region = (results.get('sampled_regions') or {}).get(task)
                if task in self.tasks and region is not None:
                    box = torch.as_tensor(region['box'], dtype=torch.float32)
                    seqs[task] = self.tokenizer.build(task, text=region['text'], box=box,
                                                      img_shape=frame)
        except ValueError as e:
            raise invalid(source, str(e)) from None
        if not seqs:
            raise invalid(source, f'nothing to train on for tasks {self.tasks}: no caption and '
                          'no eligible region')
        truncated = sum(s.truncated for s in seqs.values())
        if truncated:
            add_stats(results, truncated=truncated)
        results['task_sequences'] = seqs
        results['tokenizer_signature'] = self.tokenizer.signature
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(tasks={self.tasks}, tokenizer={self.tokenizer!r})'
