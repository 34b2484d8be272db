"""Which precision to compute in: bfloat16 where the hardware has it, else float32.

On CUDA, bfloat16 where ``torch.cuda.is_bf16_supported()``. On a CPU, where it
has native bfloat16 instructions (``avx512_bf16`` or AMX ``amx_bf16`` in
``/proc/cpuinfo``): oneDNN then runs bf16 matrix products natively; without
them it would emulate them, more slowly than float32. ``tools/benchmarks/benchmark.py
--precision`` and ``tools/train.py --amp`` decide through :func:`resolve_precision`.
"""
import os
import re
import subprocess
import sys
from typing import Optional, Set, Tuple

import torch

__all__ = ['cpu_bf16_isa', 'onednn_isa', 'resolve_precision', 'PRECISIONS']

PRECISIONS = ('fp32', 'bf16', 'auto')
_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')


def _cpu_flags() -> Set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16_isa() -> Optional[str]:
    """The CPU's native bfloat16 instruction set (``'amx_bf16'``, ``'avx512_bf16'``) or None."""
    flags = _cpu_flags()
    return next((f for f in _BF16_FLAGS if f in flags), None)


def onednn_isa() -> Optional[str]:
    """The instruction set oneDNN dispatches its kernels to here (from its verbose log of one
    bf16 matrix product in a child process), e.g. ``'Intel AVX-512 with AVX512BW, AVX512VL,
    AVX512DQ, AVX512_BF16 ...'``; None if it cannot be read."""
    code = ('import torch; a = torch.randn(64, 64).bfloat16(); '
            'torch.nn.functional.linear(a, a)')
    try:
        proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                              timeout=120, env=dict(os.environ, ONEDNN_VERBOSE='1',
                                                    DNNL_VERBOSE='1'))
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'cpu,isa:([^\n]+)', proc.stdout)
    return match.group(1).strip() if match else None


def resolve_precision(requested: str, device: torch.device) -> Tuple[str, str]:
    """``(precision, why)``: ``'bf16'`` or ``'fp32'`` for ``requested`` on ``device``.

    ``'auto'`` is bf16 where the device has it natively; ``'bf16'`` asked of a
    device without it falls back to fp32, and ``why`` says so in one line.
    """
    if requested not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {requested!r}')
    if requested == 'fp32':
        return 'fp32', 'fp32 (requested)'
    if device.type == 'cuda':
        ok = torch.cuda.is_bf16_supported()
        where = f'CUDA {torch.cuda.get_device_name(device)}'
        isa = 'bf16 tensor cores' if ok else None
    else:
        isa = cpu_bf16_isa()
        ok, where = isa is not None, 'this CPU'
    if ok:
        return 'bf16', f'bf16 ({requested}): {where} has {isa}'
    why = f'{where} has no native bfloat16 ({" / ".join(_BF16_FLAGS)})'
    if requested == 'bf16':
        return 'fp32', f'bf16 requested, but {why}: falling back to fp32'
    return 'fp32', f'fp32 (auto): {why}'
