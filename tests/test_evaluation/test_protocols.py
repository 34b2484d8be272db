"""The REC protocol freezes the encoder; the demo runs end to end (shortened)."""
import json
import os.path as osp

import pytest
import torch

from tests.conftest import ROOT, run_tool

SHAPES = osp.join(ROOT, 'configs', 'shapes')
QUICK = ['train_cfg.max_iters=6', 'train_dataloader.batch_size=4',
         'param_scheduler.0.end=2', 'param_scheduler.1.begin=2']


@pytest.mark.slow
def test_rec_protocol_trains_only_the_decoder(tmp_path):
    from locca_mm.compat.checkpoint_io import safe_torch_load
    pre = tmp_path / 'pre'
    config = osp.join(ROOT, 'configs', 'locca', 'locca_vit-tiny_1xb48-900it_shapes.py')
    proc = run_tool(['train.py', config, '--work-dir', str(pre), '--cfg-options', *QUICK])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = tmp_path / 'rec'
    proc = run_tool(['train.py', osp.join(SHAPES, 'rec_tiny_shapes.py'), '--work-dir', str(rec),
                     '--cfg-options', f'encoder_from={pre}/iter_6.pth', *QUICK,
                     'val_dataloader.dataset.num_samples=8'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = safe_torch_load(str(pre / 'iter_6.pth'))['state_dict']
    after = safe_torch_load(str(rec / 'iter_6.pth'))['state_dict']
    backbone = [k for k in after if k.startswith('backbone.')]
    assert backbone and all(torch.equal(after[k], before[k]) for k in backbone)
    # The decoder is fresh (not the pretrained one) and it trained.
    k = 'head.decoder.blocks.0.self_attn.qkv.weight'
    assert not torch.equal(after[k], before[k])
    metrics = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    del metrics  # the validation at the last iteration ran without error


def test_rec_protocol_model_gives_no_gradient_to_the_encoder(tmp_path):
    from locca_mm.cli import load_config
    from locca_mm.registry import MODELS
    from locca_mm.utils import register_all_modules
    from tests.test_models.utils import make_batch
    register_all_modules()
    cfg = load_config(osp.join(SHAPES, 'rec_tiny_shapes.py'))
    model = MODELS.build(cfg.model)
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    batch = make_batch(model, n=4, tasks=('aref', ), size=64)
    loss = model(**batch, mode='loss')['loss_aref']
    loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.head.parameters() if p.requires_grad)


@pytest.mark.slow
def test_quick_demo_over_two_seeds_writes_a_well_formed_summary(tmp_path):
    proc = run_tool(['demo.py', '--quick', '--seeds', '2', '--seed', '5', '--work-dir',
                     str(tmp_path), '--num-vis', '2'], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['seeds'] == [5, 6] and len(summary['per_seed']) == 2
    assert summary['headline_variant'] == 'plain' and summary['preset'] == 'cpu'
    assert set(summary['rec_variants']) == {'plain', 'aided'}
    for variant, rec in summary['rec_variants'].items():
        for name in ('locca', 'cap'):
            values = [s['rec'][variant][name] for s in summary['per_seed']]
            assert rec['acc'][name]['mean'] == pytest.approx(sum(values) / 2, abs=0.01)
        margins = [s['rec'][variant]['locca'] - s['rec'][variant]['cap']
                   for s in summary['per_seed']]
        assert rec['margin']['min'] == pytest.approx(min(margins), abs=0.01)
        for name in ('locca', 'cap'):  # the learning curve's mean, per seed
            curves = [json.loads((tmp_path / f'seed_{s}' / 'results.json').read_text())
                      ['rec'][variant][name]['curve'] for s in (5, 6)]
            means = [sum(a for _, a in c) / len(c) for c in curves]
            assert rec['curve_mean'][name]['mean'] == pytest.approx(sum(means) / 2, abs=0.01)
    assert summary['rec_acc@0.5'] == {n: summary['rec_variants']['plain']['acc'][n]['mean']
                                      for n in ('locca', 'cap')}
    for key in ('dense_probe_miou', 'caption_cider', 'caption_bleu4', 'position_share'):
        assert set(summary[key]) == {'locca', 'cap'}
        assert all(0 <= v['mean'] <= 1000 for v in summary[key].values())
    assert 0 < summary['dense_probe_miou']['locca']['mean'] < 100
    assert 0 < summary['position_share']['locca']['mean'] < 100
    assert 0 <= summary['captions']['location_word_share'] < 0.2
    assert summary['captions']['style'] == 'alt'
    assert summary['steps'] == {'pretrain': 10, 'rec': {'plain': 10, 'aided': 10}}
    # Validation while pretraining: LocCa's own ARef, both models' CIDEr and the pretraining
    # evals (few-shot probe, zero-shot, perplexity), over steps.
    val = summary['pretrain_val']
    assert val['locca']['steps'] == val['cap']['steps'] == [5, 10]
    evals = {'fewshot/10shot', 'zeroshot/accuracy', 'caption/perplexity'}
    assert set(val['locca']) == {'steps', 'aref/Acc@0.5', 'caption/CIDEr'} | evals
    assert set(val['cap']) == {'steps', 'caption/CIDEr'} | evals
    assert all(0 <= a <= 100 for a in val['cap']['zeroshot/accuracy'])
    assert all(p > 1 for p in val['cap']['caption/perplexity'])
    own = [json.loads((tmp_path / f'seed_{s}' / 'results.json').read_text())['models']['locca']
           ['val_curve'][-1][1]['aref/Acc@0.5'] for s in (5, 6)]
    assert val['locca']['aref/Acc@0.5'][-1] == pytest.approx(sum(own) / 2, abs=0.01)
    seed_result = json.loads((tmp_path / 'seed_5' / 'results.json').read_text())
    assert [it for it, _ in seed_result['rec']['plain']['locca']['curve']] == [2, 4, 6, 8, 10]
    assert (tmp_path / 'curves.png').stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['00.png', '01.png']
    assert 'LocCa' in proc.stdout and 'REC Acc@0.5, plain decoder' in proc.stdout
    # A quiet console: progress and the table, no deprecation notices or warnings.
    noise = [line for line in (proc.stdout + proc.stderr).splitlines()
             if 'deprecat' in line.lower() or 'Warning' in line or 'WARNING' in line]
    assert noise == []


@pytest.mark.slow
def test_the_gpu_preset_runs_its_path_on_the_cpu(tmp_path):
    """--preset gpu: larger images and models, bf16 autocast, the steps compiled (--compile);
    its path, shortened (--quick)."""
    proc = run_tool(['demo.py', '--quick', '--preset', 'gpu', '--compile', '--work-dir',
                     str(tmp_path), '--num-vis', '1', '--rec-variants', 'plain'], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['preset'] == 'gpu' and summary['headline_variant'] == 'plain'
    cfg = (tmp_path / 'seed_0' / 'locca' / 'pretrain' /
           'locca_vit-tiny_1xb48-900it_shapes.py').read_text()
    assert 'img_size=96' in cfg and 'embed_dims=192' in cfg
    assert "type='AutocastOptimWrapper'" in cfg and "dtype='bfloat16'" in cfg
    assert "type='CompileLossHook'" in cfg and 'static_shapes=True' in cfg
    assert 'fused=True' in cfg
    rec = (tmp_path / 'seed_0' / 'locca' / 'rec-plain' / 'rec_tiny_shapes.py').read_text()
    assert 'frozen_stages=6' in rec  # the whole 6-block encoder


@pytest.mark.slow
def test_quick_siglip2_recipe_demo_compares_three_models(tmp_path):
    """--recipe siglip2: SigLIP alone, SigLIP + LocCa (the full recipe's run resumed at the
    switch with the switch off) and the full recipe, measured alike (shortened)."""
    proc = run_tool(['demo.py', '--recipe', 'siglip2', '--quick', '--seeds', '1',
                     '--work-dir', str(tmp_path)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['recipe'] == 'siglip2' and summary['seeds'] == [0]
    assert summary['steps'] == {'pretrain': 10, 'rec': {'plain': 10, 'aided': 10}}
    result = json.loads((tmp_path / 'seed_0' / 'results.json').read_text())
    models = result['models']
    assert set(models) == {'siglip', 'siglip_locca', 'siglip2'}
    # Only the full recipe trained the stage-two losses; all three ran 10 steps.
    assert 'loss_distill' in models['siglip2']['final_losses']
    assert 'loss_distill' not in models['siglip_locca']['final_losses']
    assert 'loss_cap' in models['siglip_locca']['final_losses']
    assert set(models['siglip']['final_losses']) == {'loss', 'loss_con'}
    assert all(m['pretrain_iters'] == 10 for m in models.values())
    assert models['siglip_locca']['checkpoint'] != models['siglip2']['checkpoint']
    measures = summary['measures']
    # Every model: REC, the dense probe, zero-shot by the towers; the decoder's measures
    # only for the two with a decoder. The table's means are the per-seed values.
    for key in ('REC Acc@0.5, plain decoder', 'REC Acc@0.5, aided decoder', 'dense probe mIoU',
                'zero-shot accuracy (towers)', '10-shot linear probe'):
        assert set(measures[key]) == {'siglip', 'siglip_locca', 'siglip2'}, key
    for key in ('own ARef Acc@0.5', 'caption CIDEr'):
        assert set(measures[key]) == {'siglip_locca', 'siglip2'}, key
    plain = measures['REC Acc@0.5, plain decoder']['siglip2']
    assert plain['mean'] == pytest.approx(models['siglip2']['rec']['plain']['acc'], abs=0.01)
    assert 'SigLIP + LocCa' in proc.stdout and 'zero-shot accuracy (towers)' in proc.stdout
