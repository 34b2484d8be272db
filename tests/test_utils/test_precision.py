"""Precision choice (utils/precision.py), its fallback in the benchmark and in train.py --amp,
and bf16 training of the tiny LocCa against fp32."""
import json
import os.path as osp

import pytest
import torch

from locca_mm.utils import precision
from tests.conftest import ROOT, run_tool

CPU = torch.device('cpu')


def _cpu_with(flags) -> str:
    """A ``run_tool`` prelude: the tool sees a CPU with these flags (``precision._cpu_flags``)."""
    return ('import locca_mm.utils.precision as precision\n'
            f'precision._cpu_flags = lambda: set({sorted(flags)!r})')


@pytest.mark.parametrize('flags, requested, expected, words', [
    ({'avx512f', 'avx512_bf16'}, 'auto', 'bf16', 'has avx512_bf16'),
    ({'amx_bf16', 'avx512_bf16'}, 'bf16', 'bf16', 'has amx_bf16'),
    ({'avx512f', 'avx2'}, 'auto', 'fp32', 'fp32 (auto): this CPU has no native bfloat16'),
    ({'avx512f'}, 'bf16', 'fp32', 'bf16 requested, but this CPU has no native bfloat16'),
    ({'avx512_bf16'}, 'fp32', 'fp32', 'fp32 (requested)'),
])
def test_resolve_precision_on_cpu(monkeypatch, flags, requested, expected, words):
    monkeypatch.setattr(precision, '_cpu_flags', lambda: set(flags))
    got, why = precision.resolve_precision(requested, CPU)
    assert got == expected and words in why
    with pytest.raises(ValueError, match='precision must be one of'):
        precision.resolve_precision('fp16', CPU)


@pytest.mark.skipif(torch.cuda.is_available(), reason='simulates a CPU without bf16')
def test_benchmark_bf16_without_bf16_falls_back_to_fp32():
    proc = run_tool(['benchmarks/benchmark.py', '--quick', '--sections', 'rec',
                     '--precision', 'bf16'], prelude=_cpu_with({'avx2'}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out['precision'] == 'fp32' and out['cpu_bf16_isa'] is None
    err = proc.stderr
    assert 'precision: bf16 requested, but this CPU has no native bfloat16' in err
    assert 'falling back to fp32' in err and 'errors' not in out


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path of --amp')
@pytest.mark.parametrize('flags, amp', [({'avx2'}, False), ({'avx512_bf16'}, True)])
def test_train_amp_on_cpu_follows_native_bf16(tmp_path, flags, amp):
    from mmengine.config import Config
    work = tmp_path / 'work'
    proc = run_tool(['train.py', osp.join(ROOT, 'configs/toy/toy_regression.py'), '--amp',
                     '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=6'],
                    prelude=_cpu_with(flags))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = Config.fromfile(str(work / 'toy_regression.py'))  # as the runner got it
    assert (cfg.optim_wrapper.get('type') == 'AutocastOptimWrapper') == amp
    err = proc.stderr
    assert ('bfloat16 autocast on CPU (this CPU has avx512_bf16)' in err) == amp
    assert ('falling back to fp32' in err) == (not amp)


def test_onednn_isa_is_read_from_its_log(monkeypatch):
    class Proc:
        stdout = ('onednn_verbose,v1,info,oneDNN v3.12.0\n'
                  'onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with AVX512BW, AVX512VL\n'
                  'onednn_verbose,v1,info,gpu,runtime:none\n')
    monkeypatch.setattr(precision.subprocess, 'run', lambda *a, **k: Proc())
    assert precision.onednn_isa() == 'Intel AVX-512 with AVX512BW, AVX512VL'
    Proc.stdout = ''
    assert precision.onednn_isa() is None
