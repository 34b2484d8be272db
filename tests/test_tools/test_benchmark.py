"""tools/benchmarks/benchmark.py prints one JSON object with every figure (values are not
judged)."""
import json

import pytest

from tests.conftest import run_tool


@pytest.mark.slow
def test_benchmark_quick_emits_every_key():
    pytest.importorskip('open_clip')
    proc = run_tool(['benchmarks/benchmark.py', '--quick', '--compare-open-clip'], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert set(out['train_step_s']) == {'cap', 'locca'}
    assert set(out['decode_tokens_per_s']) == {'cached', 'uncached'}
    assert set(out['rec_eval_images_per_s']) == {'encode_once', 'per_expression'}
    assert set(out['samples_per_s_per_worker']) == {'shapes_64px', 'jpeg_640x480_to_224px'}
    assert {'cap', 'locca', 'locca_regions_padded_to_caption', 'locca_kv_per_task',
            'encoder'} == set(out['forward_gflops_per_image'])
    for key in ('locca_over_cap', 'kv_cache_speedup', 'peak_mem_mb', 'vs_open_clip_coca_train',
                'vs_open_clip_coca_generate', 'open_clip_matched_size'):
        assert key in out, key
    if out['device'] != 'cpu':
        assert 'mfu' in out or 'achieved_tflops' in out
    # Measured, not made up: positive rates and times.
    assert all(v > 0 for v in out['train_step_s'].values())
    assert out['text_lengths']['aref'] < out['text_lengths']['cap']


@pytest.mark.slow
def test_benchmark_data_section_only():
    proc = run_tool(['benchmarks/benchmark.py', '--data', '--quick'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert set(out['samples_per_s_per_worker']) == {'shapes_64px', 'jpeg_640x480_to_224px'}
    assert 'train_step_s' not in out


@pytest.mark.slow
def test_benchmark_transfer_section_times_a_mask_rcnn_step():
    proc = run_tool(['benchmarks/benchmark.py', '--quick', '--sections', 'transfer'], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)  # stdout holds the JSON only (init logs are silenced)
    assert 'errors' not in out, out.get('errors')
    assert out['maskrcnn_vit_b_step_s'] > 0 and out['maskrcnn_images_per_step'] == 1
    assert 'train_step_s' not in out  # only the named section ran


@pytest.mark.slow
def test_benchmark_pseudo_label_section_times_the_labelling_tool():
    pytest.importorskip('transformers')
    proc = run_tool(['benchmarks/benchmark.py', '--quick', '--sections', 'pseudo_label'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert 'errors' not in out, out.get('errors')
    assert out['pseudo_label']['images_per_s_tiny'] > 0 and 'train_step_s' not in out
