"""LocCa: one loss step, encode-once, batching equivalence, overfitting, checkpoints, predict."""
import pytest
import torch

from locca_mm.models import LocCaViT
from tests.test_models.utils import IMG, build_tiny, make_batch, predict_samples


def test_loss_step_gives_every_parameter_a_finite_gradient():
    model = build_tiny()
    batch = make_batch(model)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_cap', 'loss_aref', 'loss_gcap'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_samples_tokenised_by_another_tokenizer_stop_the_step():
    model = build_tiny()
    batch = make_batch(model)
    ours = model.tokenizer.signature
    for sample in batch['data_samples']:
        sample.set_metainfo(dict(tokenizer_signature=ours, source='a.jsonl#3'))
    assert set(model(**batch, mode='loss')) == {'loss_cap', 'loss_aref', 'loss_gcap'}
    batch['data_samples'][2].set_metainfo(dict(tokenizer_signature='0123456789ab'))
    with pytest.raises(ValueError, match=r'a\.jsonl#3 was tokenised by a tokenizer '
                       r'\(signature 0123456789ab\) that is not the model\'s'):
        model(**batch, mode='loss')


def test_initial_loss_is_uniform_over_the_vocabulary():
    # Zero-initialised logits: every token is equally likely at the start.
    model = build_tiny()
    losses = model(**make_batch(model), mode='loss')
    uniform = torch.log(torch.tensor(float(model.tokenizer.text_tokenizer.vocab_size)))
    for v in losses.values():
        assert torch.allclose(v, uniform, atol=1e-5)


def test_encoder_runs_once_and_visual_kv_is_projected_once_per_layer():
    model = build_tiny()
    calls = {'encoder': 0, 'kv': 0}
    model.backbone.register_forward_hook(lambda *a: calls.__setitem__('encoder',
                                                                       calls['encoder'] + 1))
    for blk in model.head.decoder.blocks:
        blk.cross_attn.kv.register_forward_hook(
            lambda *a: calls.__setitem__('kv', calls['kv'] + 1))
    model(**make_batch(model), mode='loss')
    assert calls['encoder'] == 1
    assert calls['kv'] == len(model.head.decoder.blocks)  # once per layer, not per task


def test_region_rows_are_padded_only_to_their_task_maximum():
    model = build_tiny()
    task_batches = make_batch(model)['task_batches']
    lengths = {task: int((b.tokens != model.tokenizer.text_tokenizer.pad_id).sum(1).max())
               for task, b in task_batches.items()}
    assert {task: b.tokens.shape[1] for task, b in task_batches.items()} == lengths


def test_mixed_task_batch_equals_per_sample_computation():
    model = build_tiny(parallel_ratio=0.0)
    model.eval()
    batch = make_batch(model, n=4)
    mixed = model(**batch, mode='loss')
    # Token-weighted mean of single-sample losses (no padding at all) per task.
    pad_id = model.tokenizer.text_tokenizer.pad_id
    for task in ('cap', 'aref', 'gcap'):
        total, count = 0.0, 0
        for i in range(4):
            single = {k: v for k, v in batch.items() if k != 'task_batches'}
            single['inputs'] = batch['inputs'][i:i + 1]
            single['data_samples'] = [batch['data_samples'][i]]
            single['task_batches'] = model.data_preprocessor.batch_text([batch['data_samples'][i]])
            loss = model(**single, mode='loss')[f'loss_{task}']
            n = int(single['task_batches'][task].loss_mask(pad_id).sum())
            total, count = total + loss.item() * n, count + n
        assert float(mixed[f'loss_{task}']) == pytest.approx(total / count, rel=1e-5)


def test_rows_without_regions_train_only_cap():
    model = build_tiny()
    batch = make_batch(model, n=4)
    for ds in batch['data_samples'][2:]:
        ds.task_sequences = {'cap': ds.task_sequences['cap']}
    batch['task_batches'] = model.data_preprocessor.batch_text(batch['data_samples'])
    assert batch['task_batches']['aref'].rows.tolist() == [0, 1]
    losses = model(**batch, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.slow
def test_tiny_locca_overfits_a_fixed_batch():
    model = build_tiny(parallel_ratio=0.5)
    batch = make_batch(model, n=4)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        losses = model(**batch, mode='loss')
        loss = sum(losses.values())
        first = float(loss) if first is None else first
        optim.zero_grad()
        loss.backward()
        optim.step()
    assert float(loss) < 0.1 * first


def test_checkpoint_reload_gives_identical_outputs_and_encoder_loads_by_prefix(tmp_path):
    model = build_tiny()
    with torch.no_grad():  # a trained-looking model: non-zero logits
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / 'locca.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    restored = build_tiny(seed=1)
    from locca_mm.compat.checkpoint_io import safe_torch_load
    restored.load_state_dict(safe_torch_load(str(path))['state_dict'])
    batch = make_batch(model)
    model.eval(), restored.eval()
    a, b = model(**batch, mode='loss'), restored(**batch, mode='loss')
    assert all(torch.equal(a[k], b[k]) for k in a)

    encoder = LocCaViT(arch=model.backbone.arch_settings, img_size=IMG, patch_size=8,
                       init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                     prefix='backbone.'))
    encoder.init_weights()
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(encoder.state_dict()[k], v), k
    x = torch.randn(2, 3, IMG, IMG)
    assert torch.equal(encoder.eval()(x)[0], model.extract_feat(x))


def test_encoder_checkpoint_mismatch_is_named(tmp_path):
    model = build_tiny()
    path = tmp_path / 'locca.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    wider = LocCaViT(arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                               feedforward_channels=64), img_size=IMG, patch_size=8)
    with pytest.raises(ValueError, match='patch_embed.proj.weight'):
        wider.load_pretrained(str(path), prefix='backbone.')
    with pytest.raises(KeyError, match='no parameters under the prefix'):
        wider.load_pretrained(str(path), prefix='encoder.')
    deeper = LocCaViT(arch=dict(embed_dims=32, num_layers=3, num_heads=2,
                                feedforward_channels=64), img_size=IMG, patch_size=8)
    with pytest.raises(KeyError, match='blocks.2'):
        deeper.load_pretrained(str(path), prefix='backbone.')


def test_predict_each_task_fills_the_documented_fields():
    model = build_tiny().eval()
    x = torch.randn(3, 3, IMG, IMG)
    caps = model.predict(x, predict_samples('cap'))
    assert all(isinstance(ds.pred_caption, str) for ds in caps)
    refs = model.predict(x, predict_samples('ref', prompt_text='red circle'))
    for ds in refs:
        assert ds.pred_instances.bboxes.shape == (1, 4) and ds.pred_instances.scores.shape == (1,)
    gcaps = model.predict(x, predict_samples('gcap', prompt_box=torch.tensor([0., 0., 30., 40.])))
    assert all(isinstance(ds.pred_caption, str) for ds in gcaps)
    # GCap with no box: the box is decoded first, then its text.
    free = predict_samples('gcap')
    free[1].prompt_box = torch.tensor([0., 0., 30., 40.])
    model.predict(x, free)
    for i in (0, 2):
        assert free[i].pred_instances.bboxes.shape == (1, 4)
        assert isinstance(free[i].pred_caption, str)
    assert 'pred_instances' not in free[1] and isinstance(free[1].pred_caption, str)
    # Mixed tasks in one batch: each sample gets its own.
    mixed = predict_samples('cap')
    mixed[1].task, mixed[1].prompt_text = 'ref', 'blue'
    model.predict(x, mixed)
    assert 'pred_caption' in mixed[0] and 'pred_instances' in mixed[1]


def test_predict_bad_input_is_explained():
    model = build_tiny().eval()
    x = torch.randn(3, 3, IMG, IMG)
    with pytest.raises(ValueError, match='unknown task'):
        model.predict(x, predict_samples('segment'))
    with pytest.raises(ValueError, match='prompt_text'):
        model.predict(x, predict_samples('ref'))
    with pytest.raises(ValueError, match='x2 < x1'):
        model.predict(x, predict_samples('gcap', prompt_box=torch.tensor([30., 0., 10., 40.])))
    with pytest.raises(ValueError, match='task sequences'):
        model(x, predict_samples('cap'), task_batches=None, mode='loss')


def test_tokenizer_bad_input_is_explained():
    tok = build_tiny().tokenizer
    long = tok.build('cap', text='word ' * 50)
    assert long.truncated and len(long.tokens) == tok.max_length['cap']
    with pytest.raises(ValueError, match='empty text'):
        tok.build('cap', text='   ')
    with pytest.raises(ValueError, match='unknown task'):
        tok.build('detect', text='a')
    with pytest.raises(ValueError, match='x2 < x1'):
        tok.build('aref', text='a', box=torch.tensor([10., 0., 5., 5.]), img_shape=(IMG, IMG))


def test_several_expressions_of_one_image_are_encoded_once():
    model = build_tiny().eval()
    calls = []
    model.backbone.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    x = torch.randn(2, 3, IMG, IMG)
    inputs = torch.cat([x[:1], x[:1], x[1:], x[:1]])  # image A three times, B once
    samples = predict_samples('ref', prompt_text='red circle') + \
        predict_samples('ref', prompt_text='blue square')[:1]
    for ds, path in zip(samples, ['a.jpg', 'a.jpg', 'b.jpg', 'a.jpg']):
        ds.set_metainfo(dict(img_path=path))
    samples[1].prompt_text = 'the other one'
    model.predict(inputs, samples)
    assert calls == [2]  # one encoder pass over the 2 distinct images
    # Same boxes as predicting every sample with its own encoder pass.
    separate = [model.predict(inputs[i:i + 1], [s.clone()])[0] for i, s in enumerate(samples)]
    for a, b in zip(samples, separate):
        assert torch.allclose(a.pred_instances.bboxes, b.pred_instances.bboxes)


def test_decoder_sizes_follow_the_encoder_only_where_the_config_leaves_them_out():
    from locca_mm.models.locca import decoder_sizes
    model = build_tiny()
    assert decoder_sizes(model.backbone, {}) == dict(embed_dims=32, num_heads=2, num_layers=1)
    assert decoder_sizes(model.backbone, dict(embed_dims=8, num_heads=1, num_layers=3)) == {}

    class Bare(torch.nn.Module):
        embed_dims = 32
    with pytest.raises(ValueError, match='head.decoder.num_heads'):
        decoder_sizes(Bare(), dict(num_layers=1))
