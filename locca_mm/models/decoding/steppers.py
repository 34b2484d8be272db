"""How :func:`~.generate.generate` runs the decoder step by step: over a growing KV cache
or none (:class:`Stepper`), or over static caches of one shape, optionally through a
compiled step (:class:`StaticStepper`); and the left padding of prompts (:func:`left_pad`).
"""
import weakref
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor

from ..layers import StaticKVCache
from ..text import TextDecoder, VisualMemory

__all__ = ['Stepper', 'StaticStepper', 'compiled_step', 'left_pad', 'start']


def left_pad(prompts: Sequence[Tensor], bos_id: int, pad_id: int):
    """Prepend ``bos`` and left-pad prompts.

    Returns:
        inputs [B, P], positions [B, P], valid bool [B, P].
    """
    seqs = [torch.cat([p.new_tensor([bos_id]), p]) for p in prompts]
    width = max(len(s) for s in seqs)
    inputs = torch.full((len(seqs), width), pad_id, dtype=torch.long, device=seqs[0].device)
    valid = torch.zeros(len(seqs), width, dtype=torch.bool, device=inputs.device)
    for i, s in enumerate(seqs):
        inputs[i, width - len(s):] = s
        valid[i, width - len(s):] = True
    positions = (valid.long().cumsum(1) - 1).clamp(min=0)
    return inputs, positions, valid


class Stepper:
    """Runs the decoder step by step, with or without the KV cache."""

    def __init__(self, decoder: TextDecoder, memory: VisualMemory, inputs: Tensor,
                 positions: Tensor, valid: Tensor, max_new_tokens: int, use_cache: bool):
        self.decoder, self.memory, self.use_cache = decoder, memory, use_cache
        self.inputs, self.positions, self.valid = inputs, positions, valid
        self.capacity = inputs.shape[1] + max_new_tokens
        self.cache = decoder.new_cache()

    @classmethod
    def start(cls, decoder: TextDecoder, memory: VisualMemory, prompts: Sequence[Tensor],
              max_new_tokens: int, num_beams: int, use_cache: bool) -> 'Stepper':
        """Left-padded prompts (each repeated ``num_beams`` times) and their memory rows."""
        inputs, positions, valid = left_pad(prompts, decoder.bos_id, decoder.pad_id)
        if inputs.shape[1] + max_new_tokens > decoder.max_len + 1:
            raise ValueError(f'prompt of {inputs.shape[1]} tokens + {max_new_tokens} new tokens '
                             f'exceeds the decoder max_len={decoder.max_len}')
        if num_beams > 1:
            rows = torch.arange(inputs.shape[0], device=inputs.device).repeat_interleave(num_beams)
            inputs, positions, valid = inputs[rows], positions[rows], valid[rows]
            memory = memory.index_select(rows)
        return cls(decoder, memory, inputs, positions, valid, max_new_tokens, use_cache)

    def first(self) -> Tensor:
        return self._run(self.inputs, self.positions)

    def next(self, token: Tensor) -> Tensor:
        pos = self._append(token)
        if self.use_cache:
            return self.decoder.step(token[:, None], pos, self.memory, self.cache, self.valid,
                                     self.capacity)[:, -1]
        return self._run(self.inputs, self.positions)

    def _append(self, token: Tensor) -> Tensor:
        """Add ``token`` [N] to the rows' history; returns its positions [N, 1]."""
        pos = self.positions[:, -1:] + 1
        self.inputs = torch.cat([self.inputs, token[:, None]], dim=1)
        self.positions = torch.cat([self.positions, pos], dim=1)
        self.valid = torch.cat([self.valid, self.valid.new_ones(len(token), 1)], dim=1)
        return pos

    def _run(self, inputs: Tensor, positions: Tensor) -> Tensor:
        cache = self.cache if self.use_cache else self.decoder.new_cache()
        return self.decoder.step(inputs, positions, self.memory, cache, self.valid,
                                 self.capacity)[:, -1]

    def reorder(self, index: Tensor) -> None:
        self.inputs, self.positions = self.inputs[index], self.positions[index]
        self.valid = self.valid[index]
        self._reorder_memory(index)
        for c in self.cache:
            c.reorder(index)

    def _reorder_memory(self, index: Tensor) -> None:
        self.memory = self.memory.index_select(index)


#: decoder -> its compiled step (``compile_step``), kept as long as the decoder lives.
_COMPILED_STEPS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
#: decoder -> {shape key: _StaticBuffers}: the buffers a compiled step's graphs were made on.
_BUFFERS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def compiled_step(decoder: TextDecoder):
    """``torch.compile(decoder.step, mode='reduce-overhead', fullgraph=True, dynamic=False)``,
    made once per decoder (one compiled graph, and on a GPU one CUDA graph, per batch shape)."""
    fn = _COMPILED_STEPS.get(decoder)
    if fn is None:
        fn = torch.compile(decoder.step, mode='reduce-overhead', fullgraph=True, dynamic=False)
        _COMPILED_STEPS[decoder] = fn
    return fn


class _StaticBuffers:
    """What a static decode writes and reads at fixed addresses: the position counter, the
    self-attention caches and a copy of the visual memory. Kept per decoder and shape, so
    that the next decode of that shape reuses the graphs captured on them (a CUDA graph
    replays on the addresses it was recorded with)."""

    def __init__(self, decoder: TextDecoder, memory: VisualMemory, capacity: int):
        self.write_at = torch.zeros((), dtype=torch.long, device=memory.kv[0][0].device)
        self.cache: List[StaticKVCache] = decoder.new_static_cache(capacity, self.write_at)
        self.memory = VisualMemory([(k.clone(), v.clone()) for k, v in memory.kv])
        for k, v in self.memory.kv:
            torch._dynamo.mark_static_address(k)
            torch._dynamo.mark_static_address(v)

    @classmethod
    def get(cls, decoder: TextDecoder, memory: VisualMemory, capacity: int,
            rows: int) -> '_StaticBuffers':
        """The buffers for ``rows`` rows of ``memory``'s shape and ``capacity`` positions
        (made on first use), holding ``memory``; the counter at 0."""
        k0 = memory.kv[0][0]
        autocast = torch.is_autocast_enabled(k0.device.type) and \
            torch.get_autocast_dtype(k0.device.type)
        key = (rows, capacity, tuple(k.shape for k, _ in memory.kv), k0.dtype, k0.device,
               autocast)
        pool: Dict[Tuple, _StaticBuffers] = _BUFFERS.setdefault(decoder, {})
        buffers = pool.get(key)
        if buffers is None:
            buffers = pool[key] = cls(decoder, memory, capacity)
        else:
            for (k, v), (nk, nv) in zip(buffers.memory.kv, memory.kv):
                k.copy_(nk)
                v.copy_(nv)
        buffers.write_at.zero_()
        return buffers


class StaticStepper(Stepper):
    """Runs the decoder over :class:`~..layers.StaticKVCache` buffers: after the prompt,
    every step has one shape ([N, 1] new tokens against all ``decoder.max_len + 1``
    positions, those not written yet masked) and reads and writes the same addresses
    (:class:`_StaticBuffers`), so a compiled step (:meth:`compile`) is captured once per
    batch size and replayed, whatever the prompts' lengths."""

    def __init__(self, decoder: TextDecoder, memory: VisualMemory, inputs: Tensor,
                 positions: Tensor, valid: Tensor, max_new_tokens: int, use_cache: bool):
        super().__init__(decoder, memory, inputs, positions, valid, max_new_tokens, use_cache)
        # Every position the decoder has, whatever this decode's prompt and length: one
        # step shape per batch size (a compiled step is not recompiled per prompt length).
        self.capacity = decoder.max_len + 1
        buffers = _StaticBuffers.get(decoder, memory, self.capacity, len(inputs))
        self.memory, self.cache, self.write_at = buffers.memory, buffers.cache, buffers.write_at
        self.key_valid = torch.cat(
            [valid, valid.new_ones(len(valid), self.capacity - valid.shape[1])], dim=1)
        self.step_fn = decoder.step

    def compile(self) -> None:
        """Later steps through the decoder's compiled step (:func:`compiled_step`)."""
        self.step_fn = compiled_step(self.decoder)

    def first(self) -> Tensor:
        logits = self.decoder.step(self.inputs, self.positions, self.memory, self.cache,
                                   self.key_valid, self.capacity)[:, -1]
        self.write_at.add_(self.inputs.shape[1])
        return logits

    def next(self, token: Tensor) -> Tensor:
        pos = self._append(token)
        logits = self.step_fn(token[:, None], pos, self.memory, self.cache, self.key_valid,
                              self.capacity)[:, -1]
        self.write_at.add_(1)
        return logits

    def reorder(self, index: Tensor) -> None:
        """Follow the beams: rows ``index`` of everything, the buffers in place."""
        super().reorder(index)  # the static caches reorder in place
        self.key_valid = self.key_valid[index]

    def _reorder_memory(self, index: Tensor) -> None:
        for k, v in self.memory.kv:  # in place: the addresses a captured graph reads
            k.copy_(k.index_select(0, index))
            v.copy_(v.index_select(0, index))


def start(decoder: TextDecoder, memory: VisualMemory, prompts: Sequence[Tensor],
          max_new_tokens: int, num_beams: int, use_cache: bool, static_cache: bool = False,
          compile_step: bool = False) -> Stepper:
    """The stepper of one decode, its prompt not run yet.

    ``static_cache``: :class:`StaticStepper` (buffers of one shape, written at a tensor
    index; the same tokens as the dynamic cache). ``compile_step``: its steps through
    ``torch.compile(decoder.step, mode='reduce-overhead', fullgraph=True)`` (on a GPU,
    CUDA graphs replay a whole step in one launch: decoding at small batches is
    launch-bound); needs ``static_cache``.
    """
    if (static_cache or compile_step) and not use_cache:
        raise ValueError('static_cache / compile_step decode with a cache: use_cache=True')
    if compile_step and not static_cache:
        raise ValueError('compile_step needs static_cache=True (one shape per step)')
    stepper = (StaticStepper if static_cache else Stepper).start(
        decoder, memory, prompts, max_new_tokens, num_beams, use_cache)
    if compile_step:
        stepper.compile()
    return stepper
