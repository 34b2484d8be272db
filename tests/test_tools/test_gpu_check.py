"""tools/benchmarks/gpu_check.py: the GPU check's own code path on a CPU (``--allow-cpu
--quick``): every goal reported with a value and an ``ok`` that a CPU run does not judge."""
import json

import pytest

from locca_mm.cli.bench.gpu_goals import GOALS, goals_report
from tests.conftest import run_tool


def test_refuses_without_a_gpu_unless_allowed():
    import torch
    if torch.cuda.is_available():
        pytest.skip('a CUDA GPU is visible')
    proc = run_tool(['benchmarks/gpu_check.py'])
    assert proc.returncode == 2 and 'no CUDA GPU' in proc.stderr


@pytest.mark.slow
def test_quick_cpu_run_reports_every_goal_unjudged():
    pytest.importorskip('open_clip')
    proc = run_tool(['benchmarks/gpu_check.py', '--allow-cpu', '--quick', '--compile-backend',
                     'eager'], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert not out.get('errors'), out.get('errors')
    assert set(out['train_step_s']) == {'cap_eager', 'locca_eager', 'cap_compiled',
                                        'locca_compiled'}
    assert all(t > 0 for t in out['train_step_s'].values())
    assert out['train']['batch'] == 2
    decode = out['decode']['b2']
    assert set(decode['seconds']) == {'uncached', 'dynamic', 'static', 'compiled'}
    assert decode['speedup_each']['uncached'] == 1.0
    goals = out['goals']
    assert set(GOALS) <= set(goals) and 'not_judged' in goals
    for name in GOALS:
        assert goals[name]['ok'] is None  # a CPU run judges nothing
    # values measured in this run are reported (those of batch 8 / the GPU peak are not)
    assert goals['locca_over_cap']['value'] == out['locca_over_cap']['compiled']
    assert goals['vs_open_clip_coca_train']['value'] == out['vs_open_clip_coca_train']


def test_goals_are_judged_against_their_targets():
    out = dict(mfu=dict(locca_compiled=0.41), locca_over_cap=dict(compiled=1.2),
               decode=dict(b8=dict(speedup_over_uncached=5.0, tokens_per_s=2999.0)),
               vs_open_clip_coca_train=1.01)
    report = goals_report(out, judged=True)
    assert report['mfu_locca']['ok'] is True
    assert report['locca_over_cap']['ok'] is False
    assert report['kv_speedup_b8']['ok'] is True  # >= 5 holds at 5.0
    assert report['kv_tokens_per_s_b8']['ok'] is False
    assert report['vs_open_clip_coca_train']['ok'] is True
    # a goal whose check failed has no value and no verdict
    assert report['vs_open_clip_coca_generate'] == dict(
        value=None, target='> 1.0', ok=None, what=GOALS['vs_open_clip_coca_generate'][3])
