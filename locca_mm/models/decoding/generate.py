"""Batched greedy and beam-search decoding with a KV cache under a :class:`DecodeConstraint`.

Prompts of different lengths share a batch by left padding: each row's
positions start so that its last prompt token sits at the same column, and the
padding is masked out of self-attention.
"""
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from ..text import TextDecoder, VisualMemory
from .constraints import DecodeConstraint
from .sampling import GenerationControls, no_repeat_ngram_mask, repetition_penalty, warp
from .steppers import Stepper, left_pad, start

__all__ = ['DECODE_CACHES', 'Generation', 'generate', 'left_pad']

#: The KV cache layouts by name (``LocCa``'s ``test_cfg['decode_cache']``): the
#: :func:`generate` arguments each stands for.
DECODE_CACHES = {
    'dynamic': dict(static_cache=False, compile_step=False),
    'static': dict(static_cache=True, compile_step=False),
    'compiled': dict(static_cache=True, compile_step=True),
}


class Generation(NamedTuple):
    """Output of :func:`generate`.

    Attributes:
        tokens: [B, L] generated tokens (``pad_id`` after ``eos``); [B, K, L]
            with ``return_all_beams``.
        scores: [B] (or [B, K]) sum of the log-probabilities of the tokens.
        lengths: [B] (or [B, K]) number of generated tokens, ``eos`` included.
        token_logp: [B, L] (or [B, K, L]) log-probability of each generated
            token (0 after ``eos``); their sum over a row is its score.
    """
    tokens: Tensor
    scores: Tensor
    lengths: Tensor
    token_logp: Optional[Tensor] = None


@torch.no_grad()
def generate(decoder: TextDecoder, memory: VisualMemory, prompts: Sequence[Tensor],
             constraint: DecodeConstraint, eos_id: int, max_new_tokens: int,
             num_beams: int = 1, length_penalty: float = 0.0, use_cache: bool = True,
             return_all_beams: bool = False, controls: Optional[GenerationControls] = None,
             penalized: Optional[Tensor] = None, static_cache: bool = False,
             compile_step: bool = False) -> Generation:
    """Decode a continuation of every prompt: greedily, by sampling, or with beam search.

    Args:
        decoder: the trained decoder.
        memory: visual memory with one row per prompt.
        prompts: B 1-D LongTensors (without ``bos``; it is added).
        constraint: allowed tokens per step.
        eos_id: end-of-sequence id (a row stops there).
        max_new_tokens: longest continuation.
        num_beams: 1 for greedy decoding (or sampling), else beam width.
        length_penalty: beams are ranked by ``score / length ** length_penalty``.
        use_cache: reuse self-attention keys/values across steps. ``False``
            re-runs the whole prefix at every step (the reference the cache is
            checked and benchmarked against).
        return_all_beams: return every beam of every row, best first
            (several hypotheses per prompt, e.g. detections).
        controls: sampling, repetition penalty, no-repeat n-grams (:mod:`.sampling`: order
            and semantics); None: plain greedy / beam search. Sampling needs
            ``num_beams=1``; the penalties apply to beams too (on the logits).
        penalized: bool ``[V]``, the ids the penalty and the n-gram ban touch (None: all).
        static_cache, compile_step: a KV cache of one shape, and its steps compiled
            (CUDA graphs on a GPU); the same tokens (:func:`.steppers.start`).

    Returns:
        :class:`Generation` with one row per prompt. Scores are the log-probabilities
        after the penalties and the constraint, before temperature and top-k/top-p.
    """
    if num_beams < 1:
        raise ValueError(f'num_beams must be >= 1, got {num_beams}')
    stepper = start(decoder, memory, prompts, max_new_tokens, num_beams, use_cache,
                    static_cache, compile_step)
    pick = _Picker(controls or GenerationControls(), penalized, num_beams, stepper.inputs.device)
    search = _Search(len(prompts), num_beams, max_new_tokens, decoder.pad_id,
                     stepper.inputs.device)
    logits = stepper.first()
    for step in range(max_new_tokens):
        logits, banned = pick.penalize(logits, stepper)
        logp = search.allowed_logp(logits, constraint, step, banned)
        token = search.choose(logp, stepper, pick.draw)
        search.record(token, step, eos_id)
        if bool(search.finished.all()) or step == max_new_tokens - 1:
            break
        logits = stepper.next(token)
    return search.result(length_penalty, return_all_beams)


class _Picker:
    """The generation controls of one decode: the penalties on each step's logits, and the
    draw that replaces the argmax when sampling (``draw`` is None otherwise)."""

    def __init__(self, controls: GenerationControls, penalized: Optional[Tensor],
                 num_beams: int, device):
        if controls.samples and num_beams > 1:
            raise ValueError(f'sampling draws one sequence per prompt: num_beams must be 1, '
                             f'got {num_beams}')
        self.controls, self.penalized = controls, penalized
        self.generator = controls.make_generator(device) if controls.samples else None
        self.draw = self._draw if controls.samples else None

    def _draw(self, logp: Tensor) -> Tensor:
        """One token per row, drawn from the warped log-probabilities ``logp [N, V]``."""
        c = self.controls
        probs = warp(logp, c.temperature, c.top_k, c.top_p).softmax(-1)
        return torch.multinomial(probs, 1, generator=self.generator)[:, 0]

    def penalize(self, logits: Tensor, stepper: 'Stepper'):
        """Logits after the repetition penalty, and the n-gram ban mask (or None), of the
        rows' tokens so far (prompt and generated; left padding left out)."""
        c = self.controls
        if not c.penalizes:
            return logits, None
        history = stepper.inputs.masked_fill(~stepper.valid, -1)
        logits = repetition_penalty(logits.float(), history, c.repetition_penalty,
                                    self.penalized)
        if c.no_repeat_ngram_size <= 0:
            return logits, None
        rows = [ids[ok].tolist() for ids, ok in zip(stepper.inputs, stepper.valid)]
        banned = no_repeat_ngram_mask(rows, c.no_repeat_ngram_size, logits.shape[-1],
                                      logits.device)
        if self.penalized is not None:
            banned &= self.penalized.to(banned.device)[None]
        return logits, banned


class _Search:
    """The hypotheses of a greedy (K = 1) or beam search over B prompts, N = B * K rows.

    Attributes:
        generated: [N, max_new_tokens] tokens so far (``pad_id`` after ``eos``).
        scores: [N] summed log-probabilities.
        lengths: [N] generated tokens, ``eos`` included.
        finished: bool [N], rows that produced ``eos``.
    """

    def __init__(self, b: int, k: int, max_new_tokens: int, pad_id: int, device):
        n = b * k
        self.b, self.k, self.pad_id = b, k, pad_id
        self.generated = torch.full((n, max_new_tokens), pad_id, dtype=torch.long,
                                    device=device)
        self.scores = torch.zeros(n, device=device)
        if k > 1:  # only the first beam of each row is live at the start (no duplicates)
            self.scores.view(b, k)[:, 1:] = float('-inf')
        self.lengths = torch.zeros(n, dtype=torch.long, device=device)
        self.finished = torch.zeros(n, dtype=torch.bool, device=device)
        self.token_logp = torch.zeros(n, max_new_tokens, device=device)
        self.chosen_logp = torch.zeros(n, device=device)  # of the tokens :meth:`choose` picked

    def allowed_logp(self, logits: Tensor, constraint: DecodeConstraint, step: int,
                     banned: Optional[Tensor] = None) -> Tensor:
        """Log-probabilities [N, V] of the next token, -inf where the constraint forbids it
        (or ``banned [N, V]`` does, in rows where that leaves an allowed token)."""
        logp = logits.float().log_softmax(-1)
        allowed = constraint.allowed(self.generated[:, :step], step)
        if banned is not None:
            kept = allowed & ~banned
            allowed = torch.where(kept.any(-1, keepdim=True), kept, allowed)
        logp = logp.masked_fill(~allowed, float('-inf'))
        # A finished row can only continue with pad, at no cost (no boolean indexing: no
        # device-to-host sync).
        is_pad = torch.arange(logp.shape[-1], device=logp.device) == self.pad_id
        finished = torch.where(is_pad, 0.0, float('-inf')).to(logp.dtype)
        return torch.where(self.finished[:, None], finished[None], logp)

    def choose(self, logp: Tensor, stepper: 'Stepper', draw=None) -> Tensor:
        """The next token [N] of every row: the argmax (or a ``draw``), or the K best
        continuations of each prompt's beams (the beams, and the stepper's caches,
        reordered to follow them)."""
        if self.k == 1:
            token = logp.argmax(-1) if draw is None else draw(logp)
            self.chosen_logp = logp.gather(1, token[:, None])[:, 0]
            self.scores = self.scores + self.chosen_logp
            return token
        v = logp.shape[-1]
        cand = (self.scores[:, None] + logp).view(self.b, self.k * v)
        top, idx = cand.topk(self.k, dim=-1)
        beam = (idx // v + torch.arange(self.b, device=logp.device)[:, None] * self.k).view(-1)
        self.chosen_logp = logp[beam, (idx % v).view(-1)]
        self.scores = top.view(-1)
        self.generated, self.lengths = self.generated[beam], self.lengths[beam]
        self.finished, self.token_logp = self.finished[beam], self.token_logp[beam]
        stepper.reorder(beam)
        return (idx % v).view(-1)

    def record(self, token: Tensor, step: int, eos_id: int) -> None:
        """Append ``token`` [N] at ``step`` (and its log-probability, from :meth:`choose`);
        rows that emit ``eos`` finish."""
        self.generated[:, step] = token
        self.token_logp[:, step] = self.chosen_logp
        self.lengths = self.lengths + (~self.finished).long()
        self.finished = self.finished | (token == eos_id)

    def result(self, length_penalty: float, return_all_beams: bool) -> Generation:
        """The best hypothesis per prompt, or every beam best first (``return_all_beams``)."""
        rows = (self.generated, self.scores, self.lengths, self.token_logp)
        if self.k > 1:
            b, k, scores = self.b, self.k, self.scores
            norm = (scores / self.lengths.clamp(min=1).float()**length_penalty).view(b, k)
            if return_all_beams:
                order = norm.argsort(dim=-1, descending=True) + \
                    torch.arange(b, device=scores.device)[:, None] * k
                return Generation(*(r[order] for r in rows))
            best = norm.argmax(-1) + torch.arange(b, device=scores.device) * k
            rows = tuple(r[best] for r in rows)
        if return_all_beams:
            return Generation(*(r[:, None] for r in rows))
        return Generation(*rows)
