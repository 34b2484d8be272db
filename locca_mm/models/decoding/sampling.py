"""Generation controls: sampling (temperature, top-k, top-p), repetition penalty and
no-repeat n-grams, with the semantics of transformers' logits processors.

Per step, on the decoder's logits ``[N, V]``, in this order:

1. repetition penalty (``RepetitionPenaltyLogitsProcessor``): the logit of every
   token already in the row (prompt and generated) is divided by the penalty where
   positive and multiplied by it where negative;
2. no-repeat n-grams (``NoRepeatNGramLogitsProcessor``): a token that would complete
   an n-gram already in the row gets ``-inf``;
3. the decoding constraint (box positions: location tokens only), then
   ``log_softmax``: these are the log-probabilities a row is scored with;
4. sampling only: temperature (logits / T), top-k (keep the k largest), top-p (keep
   the smallest set of most likely tokens whose probability reaches p; at least one),
   as ``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``; then one
   token drawn from the softmax, with the controls' ``torch.Generator``.

Steps 1 and 2 touch only the ids of ``penalized`` (the text tokens when the model's
head decodes: a box may repeat a coordinate); where step 2 would forbid every token the
constraint allows, that row is left unbanned (the constraint wins). Because the
constraint is applied before the warpers, top-k and top-p choose among allowed tokens
only, and a sample never leaves the constraint.
"""
from dataclasses import dataclass, fields
from typing import List, Optional

import torch
from torch import Tensor

__all__ = ['GenerationControls', 'repetition_penalty', 'no_repeat_ngram_mask', 'warp',
           'CONTROL_KEYS']


@dataclass
class GenerationControls:
    """How tokens are chosen beyond greedy / beam search.

    Attributes:
        do_sample (bool): draw each token from the (warped) distribution instead of
            taking the most likely. Defaults to False. Greedy only (``num_beams=1``).
        temperature (float): > 0 divides the logits before sampling; 0 means greedy.
            Defaults to 1.
        top_k (int): keep the k most likely tokens (0: all). Defaults to 0.
        top_p (float): in (0, 1]: keep the most likely tokens whose probabilities sum
            to ``top_p`` (1: all). Defaults to 1.
        repetition_penalty (float): > 0; 1 is none, > 1 discourages tokens already
            in the sequence. Defaults to 1.
        no_repeat_ngram_size (int): forbid repeating any n-gram of this size (0: off).
        seed (int, optional): seeds a ``torch.Generator`` for the draws: the same seed
            gives the same samples.
        generator (torch.Generator, optional): the generator to draw with (wins over
            ``seed``; an inferencer makes one per call from ``seed``).

    Raises:
        ValueError: a value outside its range (named).
    """
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    seed: Optional[int] = None
    generator: Optional[torch.Generator] = None

    def __post_init__(self):
        checks = [('temperature', self.temperature >= 0, '>= 0'),
                  ('top_k', isinstance(self.top_k, int) and self.top_k >= 0, 'an int >= 0'),
                  ('top_p', 0 < self.top_p <= 1, 'in (0, 1]'),
                  ('repetition_penalty', self.repetition_penalty > 0, '> 0'),
                  ('no_repeat_ngram_size', isinstance(self.no_repeat_ngram_size, int)
                   and self.no_repeat_ngram_size >= 0, 'an int >= 0')]
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f'{name} must be {what}, got {getattr(self, name)!r}')

    @classmethod
    def from_cfg(cls, cfg: dict) -> 'GenerationControls':
        """The controls among a ``test_cfg``'s keys (:data:`CONTROL_KEYS`); None: default."""
        return cls(**{k: cfg[k] for k in CONTROL_KEYS if cfg.get(k) is not None})

    @property
    def samples(self) -> bool:
        """Tokens are drawn (``do_sample`` with a temperature above 0)."""
        return self.do_sample and self.temperature > 0

    @property
    def penalizes(self) -> bool:
        """A repetition penalty or an n-gram ban is set."""
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0

    @property
    def is_default(self) -> bool:
        """Plain greedy / beam search: nothing here changes the choice of tokens."""
        return not self.do_sample and not self.penalizes

    def make_generator(self, device) -> Optional[torch.Generator]:
        """The generator to draw with on ``device`` (None: torch's global one)."""
        if self.generator is not None:
            return self.generator
        if self.seed is None:
            return None
        return torch.Generator(device=device).manual_seed(int(self.seed))


#: The ``test_cfg`` / inferencer keys of :class:`GenerationControls`.
CONTROL_KEYS = tuple(f.name for f in fields(GenerationControls))


def repetition_penalty(logits: Tensor, history: Tensor, penalty: float,
                       penalized: Optional[Tensor] = None) -> Tensor:
    """``logits [N, V]`` with every token of ``history [N, T]`` (ids; negative: none)
    penalised: positive logits divided by ``penalty``, negative ones multiplied.

    Only ids where ``penalized [V]`` is True are touched (None: all)."""
    if penalty == 1.0 or history.shape[1] == 0:
        return logits
    v = logits.shape[-1]
    seen = torch.zeros(logits.shape[0], v + 1, dtype=torch.bool, device=logits.device)
    seen.scatter_(1, torch.where(history >= 0, history, v), True)  # v: a column for "none"
    seen = seen[:, :v]
    if penalized is not None:
        seen &= penalized.to(logits.device)[None]
    scaled = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, scaled, logits)


def no_repeat_ngram_mask(history: List[List[int]], n: int, vocab_size: int,
                         device=None) -> Tensor:
    """bool ``[N, V]``: the tokens that would repeat an ``n``-gram of each row's
    ``history`` (its ids so far): those that followed an earlier occurrence of the
    row's last ``n - 1`` tokens."""
    banned = torch.zeros(len(history), vocab_size, dtype=torch.bool, device=device)
    if n < 1:
        return banned
    for row, ids in enumerate(history):
        if len(ids) + 1 < n:
            continue
        tail = tuple(ids[len(ids) - n + 1:]) if n > 1 else ()
        for start in range(len(ids) - n + 1):
            if tuple(ids[start:start + n - 1]) == tail:
                banned[row, ids[start + n - 1]] = True
    return banned


def warp(logits: Tensor, temperature: float = 1.0, top_k: int = 0,
         top_p: float = 1.0) -> Tensor:
    """Temperature, then top-k, then top-p filtering of ``logits [N, V]`` (filtered:
    ``-inf``), as transformers' warpers with ``min_tokens_to_keep=1``."""
    if temperature != 1.0:
        logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    if top_p < 1.0:
        ordered, order = logits.sort(dim=-1)  # ascending, as TopPLogitsWarper
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative <= 1 - top_p
        drop[..., -1] = False  # the most likely token always stays
        logits = logits.masked_fill(drop.scatter(1, order, drop), float('-inf'))
    return logits
