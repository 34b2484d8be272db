"""tools/analysis_tools/sequence_lengths.py: uncut lengths and the share a max_length cuts."""
import json
import os.path as osp

import pytest

from tests.conftest import ROOT, run_tool

SHAPES = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')


@pytest.mark.slow
def test_lengths_and_cut_share_match_the_pipeline_counts(tmp_path):
    proc = run_tool(['analysis_tools/sequence_lengths.py', SHAPES, '--num', '60',
                     '--percentile', '90', '--cfg-options',
                     'train_dataloader.dataset.tokenizer.max_length.cap=14'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    cap = out['tasks']['cap']
    assert cap['count'] == 60 and cap['current_max_length'] == 14
    assert cap['p50'] <= cap['p90'] <= cap['max'] and cap['max'] > 14
    assert cap['suggested_max_length'] % 8 == 0 and cap['suggested_max_length'] >= cap['p90']
    # The cut share equals what the pipeline itself flags as truncated at that limit.
    from locca_mm.cli import load_config
    from locca_mm.registry import DATASETS
    from locca_mm.utils import register_all_modules
    register_all_modules()
    cfg = load_config(SHAPES, {'train_dataloader.dataset.tokenizer.max_length.cap': 14})
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    flags = [dataset[int(i * len(dataset) / 60)]['data_samples'].task_sequences['cap'].truncated
             for i in range(60)]
    assert cap['cut_at_current'] == round(sum(flags) / 60, 4) and sum(flags) > 0
    assert out['config_line'].startswith('tokenizer = dict(_base_.tokenizer, max_length=')
    assert 'train_dataloader = dict(dataset=dict(tokenizer=tokenizer))' in out['config_line']
