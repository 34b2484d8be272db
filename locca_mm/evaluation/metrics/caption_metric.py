"""CaptionMetric: BLEU-1..4 and CIDEr through pycocoevalcap, with COCO's tokenisation."""
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, List, Sequence

from mmengine.logging import print_log

from locca_mm.registry import METRICS

from .task_metric import TaskMetric

# What pycocoevalcap's PTBTokenizer drops after tokenising.
PUNCTUATIONS = {"''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?', '!', ',',
                ':', '-', '--', '...', ';'}
# Stanford writes brackets as -LRB- etc.; lower-cased, they escape the punctuation filter.
_BRACKETS = {'(': '-lrb-', ')': '-rrb-', '{': '-lcb-', '}': '-rcb-', '[': '-lsb-', ']': '-rsb-'}
_TOKEN = re.compile(r"[a-z0-9]+(?=n't)|n't|'(?:s|re|ve|m|ll|d)\b|(?:[a-z]\.){2,}|\.\.\.|--"
                    r"|[a-z0-9]+(?:[.,][0-9]+)*|[^\sa-z0-9]")


def python_ptb_tokenize(text: str) -> str:
    """Lower-cased PTB-style tokens without punctuation: the Java tokenizer's output, mostly.

    Used only where Java is missing; splits clitics ("dog's" -> "dog 's") and
    punctuation as Stanford's PTBTokenizer does for ordinary captions.
    """
    tokens = [_BRACKETS.get(t, t) for word in text.lower().split() for t in _TOKEN.findall(word)]
    return ' '.join(t for t in tokens if t not in PUNCTUATIONS)


@contextlib.contextmanager
def _quiet_child_stderr():
    """Hold back what child processes write to stderr; show it only if the call fails."""
    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors='replace'))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tokenize(captions: Dict[int, List[str]], use_java: bool = None) -> Dict[int, List[str]]:
    """COCO caption tokenisation: pycocoevalcap's Stanford PTBTokenizer (Java), else Python."""
    if use_java is None:
        use_java = shutil.which('java') is not None
    if use_java:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
        with _quiet_child_stderr():  # Stanford's tokenizer reports its speed on stderr
            return PTBTokenizer().tokenize(
                {k: [{'caption': c} for c in v] for k, v in captions.items()})
    print_log('java not found: captions are tokenised in Python (close to, not always the '
              'same as, the COCO PTB tokenizer)', logger='current', level=logging.WARNING)
    return {k: [python_ptb_tokenize(c) for c in v] for k, v in captions.items()}


def caption_scores(predictions: Dict[int, str], references: Dict[int, List[str]],
                   use_java: bool = None) -> Dict[str, float]:
    """BLEU-1..4 and CIDEr (x100) of ``predictions`` against ``references`` (pycocoevalcap)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    gts = tokenize(references, use_java)
    res = tokenize({k: [v] for k, v in predictions.items()}, use_java)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    out = {f'BLEU-{i + 1}': float(b) * 100 for i, b in enumerate(bleu)}
    out['CIDEr'] = float(cider) * 100
    return out


@METRICS.register_module()
class CaptionMetric(TaskMetric):
    """BLEU-1..4 and CIDEr of ``pred_caption`` against the sample's ``gt_captions``.

    Scores come from pycocoevalcap's ``Bleu`` and ``Cider`` after COCO's
    standard tokenisation (Stanford PTBTokenizer, which needs ``java``; a
    Python approximation with a warning where Java is missing). Reported
    ×100, as in the papers: ``caption/CIDEr``, ``caption/BLEU-4``, ...

    Args:
        use_java (bool, optional): force (True) or avoid (False) the Java
            tokenizer; None uses it when ``java`` is on the PATH.
        task (str): the samples scored: those whose ``task`` is this (or unset),
            so one evaluation over a mixed set (pretraining validation: captions
            and referring expressions) gives each metric its own. Defaults to 'cap'.
        collect_device (str), prefix (str): as in mmengine's ``BaseMetric``.
    """

    default_prefix = 'caption'

    def __init__(self, use_java: bool = None, task: str = 'cap', collect_device: str = 'cpu',
                 prefix=None):
        super().__init__(task, collect_device=collect_device, prefix=prefix)
        self.use_java = use_java

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each caption sample's prediction and references."""
        for sample in self.task_samples(data_samples):
            refs = sample.get('gt_captions') or ([sample['gt_caption']]
                                                 if sample.get('gt_caption') else [])
            if not refs:
                raise ValueError(f'no reference captions for {sample.get("source", "a sample")}')
            self.results.append(dict(pred=sample['pred_caption'], refs=list(refs)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """BLEU-1..4 and CIDEr (x100) of the kept predictions."""
        preds = {i: r['pred'] for i, r in enumerate(results)}
        refs = {i: r['refs'] for i, r in enumerate(results)}
        return caption_scores(preds, refs, self.use_java)
