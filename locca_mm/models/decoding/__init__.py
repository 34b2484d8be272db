"""Decoding: batched greedy, sampling and beam search with a KV cache (:mod:`.generate`;
sampling, repetition penalty and n-gram bans: :mod:`.sampling`) under token constraints
(:mod:`.constraints`, and :mod:`.detection` for whole detection sequences);
:func:`constraint_for` picks a prediction task's constraint. The modules point one way:
constraints <- detection, constraints <- generate <- sampling."""
from typing import Optional, Sequence

from locca_mm.structures.tasks import predict_task
from locca_mm.tokenizers.detection import DEFAULT_MAX_BOXES

from .constraints import BoxConstraint, DecodeConstraint, GroundedCaptionConstraint, TextConstraint
from .detection import DetectionConstraint, NameTrie
from .generate import DECODE_CACHES, Generation, generate, left_pad
from .sampling import CONTROL_KEYS, GenerationControls

__all__ = [
    'DecodeConstraint', 'TextConstraint', 'BoxConstraint', 'GroundedCaptionConstraint',
    'DetectionConstraint', 'NameTrie', 'DECODE_CACHES', 'Generation', 'generate', 'left_pad',
    'constraint_for',
    'GenerationControls', 'CONTROL_KEYS'
]


def constraint_for(task: str, tokenizer, classes: Optional[Sequence[str]] = None,
                   max_boxes: int = DEFAULT_MAX_BOXES,
                   max_new_tokens: Optional[int] = None) -> DecodeConstraint:
    """The constraint of a prediction task (:data:`~locca_mm.structures.tasks.PREDICT_TASKS`:
    ``'cap'``, ``'ref'``, ``'gcap'``, ``'detect'``, ``'detect_seq'``), for a
    :class:`LocCaTokenizer`.

    ``classes``, ``max_boxes`` and ``max_new_tokens`` concern ``'detect_seq'``
    only (:class:`~locca_mm.models.decoding.DetectionConstraint`):
    the texts allowed (None: free text), the most pairs, and the token budget
    the decode runs under.
    """
    kind = predict_task(task).constraint
    vocab = tokenizer.text_tokenizer
    if kind == 'boxes_texts':
        return DetectionConstraint.for_tokenizer(tokenizer, classes, max_boxes, max_new_tokens)
    box = BoxConstraint(vocab.loc_offset, tokenizer.num_bins, vocab.vocab_size, vocab.eos_id)
    if kind == 'box':
        return box
    text = TextConstraint(vocab.text_token_mask(), vocab.eos_id)
    if kind == 'text':
        return text
    return GroundedCaptionConstraint(box, vocab.encode(tokenizer.separator), text)
