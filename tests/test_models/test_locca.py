"""LocCa: one loss step, encode-once, batching equivalence, overfitting, checkpoints, predict."""
import pytest
import torch

from locca_mm.models import LocCaViT
from locca_mm.structures import LocCaDataSample
from tests.test_models.utils import COCA_B, IMG, LOCCA_B, build_tiny, make_batch


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


def test_initial_loss_is_uniform_over_the_vocabulary():
    # Zero-initialised logits: every token is equally likely at the start.
    model = build_tiny()
    losses = model(**make_batch(model), mode='loss')
    uniform = torch.log(torch.tensor(float(model.tokenizer.text.vocab_size)))
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
    text = make_batch(model)['text']
    lengths = {task: int((b.tokens != model.tokenizer.text.pad_id).sum(1).max())
               for task, b in text.items()}
    assert {task: b.tokens.shape[1] for task, b in text.items()} == lengths


def test_mixed_task_batch_equals_per_sample_computation():
    model = build_tiny(parallel_ratio=0.0)
    model.eval()
    batch = make_batch(model, n=4)
    mixed = model(**batch, mode='loss')
    # Token-weighted mean of single-sample losses (no padding at all) per task.
    for task in ('cap', 'aref', 'gcap'):
        total, count = 0.0, 0
        for i in range(4):
            single = {k: v for k, v in batch.items() if k != 'text'}
            single['inputs'] = batch['inputs'][i:i + 1]
            single['data_samples'] = [batch['data_samples'][i]]
            single['text'] = model.data_preprocessor.batch_text([batch['data_samples'][i]])
            loss = model(**single, mode='loss')[f'loss_{task}']
            n = int(single['text'][task].loss_mask(model.tokenizer.text.pad_id).sum())
            total, count = total + loss.item() * n, count + n
        assert float(mixed[f'loss_{task}']) == pytest.approx(total / count, rel=1e-5)


def test_rows_without_regions_train_only_cap():
    model = build_tiny()
    batch = make_batch(model, n=4)
    for ds in batch['data_samples'][2:]:
        ds.task_sequences = {'cap': ds.task_sequences['cap']}
    batch['text'] = model.data_preprocessor.batch_text(batch['data_samples'])
    assert batch['text']['aref'].rows.tolist() == [0, 1]
    losses = model(**batch, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())


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
    from locca_mm.utils.checkpoint_io import safe_torch_load
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


def _predict_samples(task, **fields):
    samples = []
    for _ in range(3):
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG), ori_shape=(64, 64),
                                           scale_factor=(0.5, 0.5)))
        ds.task = task
        for k, v in fields.items():
            setattr(ds, k, v)
        samples.append(ds)
    return samples


def test_predict_each_task_fills_the_documented_fields():
    model = build_tiny().eval()
    x = torch.randn(3, 3, IMG, IMG)
    caps = model.predict(x, _predict_samples('cap'))
    assert all(isinstance(ds.pred_caption, str) for ds in caps)
    refs = model.predict(x, _predict_samples('ref', prompt_text='red circle'))
    for ds in refs:
        assert ds.pred_instances.bboxes.shape == (1, 4) and ds.pred_instances.scores.shape == (1,)
    gcaps = model.predict(x, _predict_samples('gcap', prompt_box=torch.tensor([0., 0., 30., 40.])))
    assert all(isinstance(ds.pred_caption, str) for ds in gcaps)
    # GCap with no box: the box is decoded first, then its text.
    free = _predict_samples('gcap')
    free[1].prompt_box = torch.tensor([0., 0., 30., 40.])
    model.predict(x, free)
    for i in (0, 2):
        assert free[i].pred_instances.bboxes.shape == (1, 4)
        assert isinstance(free[i].pred_caption, str)
    assert 'pred_instances' not in free[1] and isinstance(free[1].pred_caption, str)
    # Mixed tasks in one batch: each sample gets its own.
    mixed = _predict_samples('cap')
    mixed[1].task, mixed[1].prompt_text = 'ref', 'blue'
    model.predict(x, mixed)
    assert 'pred_caption' in mixed[0] and 'pred_instances' in mixed[1]


def test_predict_bad_input_is_explained():
    model = build_tiny().eval()
    x = torch.randn(3, 3, IMG, IMG)
    with pytest.raises(ValueError, match='unknown task'):
        model.predict(x, _predict_samples('segment'))
    with pytest.raises(ValueError, match='prompt_text'):
        model.predict(x, _predict_samples('ref'))
    with pytest.raises(ValueError, match='x2 < x1'):
        model.predict(x, _predict_samples('gcap', prompt_box=torch.tensor([30., 0., 10., 40.])))
    with pytest.raises(ValueError, match='task sequences'):
        model(x, _predict_samples('cap'), text=None, mode='loss')


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


def test_gaussian_location_targets():
    """loc_sigma -> 0 gives plain cross-entropy; a near miss costs less than a far one."""
    import torch.nn.functional as F

    from locca_mm.structures import TaskBatch
    model = build_tiny(loc_sigma=1e-3)
    head, text = model.head, model.tokenizer.text
    k = text.num_loc_tokens
    tokens = torch.tensor([[text.loc_offset + 3, text.eos_id]])
    batch = TaskBatch(tokens, torch.tensor([0]), None)
    logits = torch.randn(1, 2, text.vocab_size)
    plain = F.cross_entropy(logits[0], tokens[0])
    assert torch.allclose(head.token_loss(logits, batch), plain, atol=1e-5)
    head.loc_sigma = 1.0
    near = torch.full((1, 2, text.vocab_size), -10.0)
    near[0, 0, text.loc_offset + 4] = 10.0  # one bin off
    near[0, 1, text.eos_id] = 10.0
    far = near.clone()
    far[0, 0, text.loc_offset + 4] = -10.0
    far[0, 0, text.loc_offset + k - 1] = 10.0  # many bins off
    assert head.token_loss(near, batch) < head.token_loss(far, batch)


def test_several_expressions_of_one_image_are_encoded_once():
    model = build_tiny().eval()
    calls = []
    model.backbone.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    x = torch.randn(2, 3, IMG, IMG)
    inputs = torch.cat([x[:1], x[:1], x[1:], x[:1]])  # image A three times, B once
    samples = _predict_samples('ref', prompt_text='red circle') + \
        _predict_samples('ref', prompt_text='blue square')[:1]
    for ds, path in zip(samples, ['a.jpg', 'a.jpg', 'b.jpg', 'a.jpg']):
        ds.set_metainfo(dict(img_path=path))
    samples[1].prompt_text = 'the other one'
    model.predict(inputs, samples)
    assert calls == [2]  # one encoder pass over the 2 distinct images
    # Same boxes as predicting every sample with its own encoder pass.
    separate = [model.predict(inputs[i:i + 1], [s.clone()])[0] for i, s in enumerate(samples)]
    for a, b in zip(samples, separate):
        assert torch.allclose(a.pred_instances.bboxes, b.pred_instances.bboxes)


@pytest.mark.parametrize('config,loc_sigma', [(LOCCA_B, 0.0), (LOCCA_B, 1.0),
                                               (COCA_B, 0.0)])
def test_logits_only_at_loss_positions_give_the_full_computation(config, loc_sigma):
    """The decoder projects to the vocabulary only where a loss is taken; losses and gradients
    equal those of logits on every position (prompt and padding included)."""
    overrides = dict(loc_sigma=loc_sigma) if loc_sigma else {}
    model = build_tiny(config, **overrides).train()
    batch = make_batch(model)
    for row in batch['text'].values():  # padding in every task, so positions are skipped
        assert bool((row.tokens == model.head.pad_id).any())
    decoder = model.head.decoder
    selective = decoder.forward

    def full(tokens, memory=None, parallel=None, return_text_embedding=False, logits_at=None):
        return selective(tokens, memory, parallel, return_text_embedding)  # [R, T, V]

    results = []
    for forward in (selective, full):
        decoder.forward = forward
        model.zero_grad()
        torch.manual_seed(0)  # the same parallel-prediction rows
        losses = model(**batch, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        results.append((losses, {n: p.grad.clone() for n, p in model.named_parameters()
                                 if p.grad is not None}))
    decoder.forward = selective
    (a, ga), (b, gb) = results
    assert set(a) == set(b)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert set(ga) == set(gb)
    for n in ga:
        assert torch.allclose(ga[n], gb[n], atol=1e-6), n


def test_gcap_decoding_with_and_without_a_given_box(monkeypatch):
    """With a box, its tokens (in the input frame) are the prompt and only text is decoded;
    without, the box is decoded first, then the separator and the text, and the box comes
    back in original-image pixels."""
    import locca_mm.models.heads.locca_head as head_module
    from locca_mm.models.decoding import Generation, GroundedCaptionConstraint, TextConstraint
    model = build_tiny().eval()
    tok = model.tokenizer
    calls = []
    bins = torch.tensor([2, 4, 10, 12])  # y1, x1, y2, x2 bins in the default order
    sep = tok.text.encode(tok.separator)
    word = tok.text.encode(' cube')

    def fake_generate(decoder, memory, prompts, constraint, eos_id, max_new, **kw):
        calls.append((prompts, constraint))
        ids = ([] if isinstance(constraint, TextConstraint) else
               tok.text.loc_ids(bins).tolist() + sep) + word + [eos_id]
        tokens = torch.tensor([ids] * len(prompts))
        return Generation(tokens, torch.zeros(len(prompts)), torch.full((len(prompts), ), len(ids)))

    monkeypatch.setattr(head_module, 'generate', fake_generate)
    x = torch.randn(3, 3, IMG, IMG)
    given = torch.tensor([4., 8., 30., 40.])  # original pixels; the input is half size
    samples = _predict_samples('gcap')
    samples[0].prompt_box = given
    model.predict(x, samples)
    (with_box, c1), (without, c2) = calls
    frame = (IMG, IMG)
    expected = tok.prompt('gcap', box=given * 0.5, img_shape=frame)
    assert isinstance(c1, TextConstraint) and torch.equal(with_box[0], expected)
    assert isinstance(c2, GroundedCaptionConstraint)
    assert all(torch.equal(p, tok.prompt('gcap')) for p in without) and len(without) == 2
    assert samples[0].pred_caption == 'cube' and 'pred_instances' not in samples[0]
    box_in_input = tok.box.decode(bins[None], frame)[0]
    for ds in samples[1:]:
        assert ds.pred_caption == 'cube'
        assert torch.allclose(ds.pred_instances.bboxes[0], box_in_input / 0.5)


@pytest.mark.parametrize('loss_on', [None, dict(aref=('box', )), dict(gcap=('text', )),
                                     dict(aref=('text', ), gcap=('box', ))])
def test_task_losses_cover_exactly_the_trained_tokens(loss_on):
    """Each task's loss is the mean cross-entropy over the tokens its loss_on names, found
    here from the decoded text of each row (not from the batch's own loss mask)."""
    import torch.nn.functional as F

    from locca_mm.registry import MODELS
    from tests.test_models.utils import TINY_TOKENIZER, tiny_model_cfg
    cfg = tiny_model_cfg(parallel_ratio=0.0)
    cfg['tokenizer'] = dict(TINY_TOKENIZER, loss_on=loss_on or {})
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    for p in model.head.decoder.head.parameters():
        torch.nn.init.normal_(p, std=0.1)
    batch = make_batch(model, n=3)
    losses = model(**batch, mode='loss')
    tok = model.tokenizer
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    trained_parts = dict(aref=('text', 'box'), gcap=('box', 'text'))
    trained_parts.update(loss_on or {})
    for task in ('aref', 'gcap'):
        rows = batch['text'][task]
        logits = model.head.decoder(rows.tokens, memory.index_select(rows.rows))  # every position
        picked_logits, picked_targets = [], []
        for r, ds in enumerate(batch['data_samples']):
            ids = ds.task_sequences[task].tokens.tolist()
            n_prefix = len(tok.text.encode(tok.prefixes[task]))
            locs = [i for i, t in enumerate(ids) if tok.text.is_loc(torch.tensor(t))]
            box = set(range(locs[0], locs[-1] + 1))
            # aref: text = up to the separator before the box; gcap: text = after the box.
            text = set(range(n_prefix, locs[0])) if task == 'aref' else \
                set(range(locs[-1] + 1, len(ids)))
            if task == 'aref':  # ' :' and eos belong to the box part
                box |= set(range(locs[0] - len(tok.text.encode(' :')), locs[0])) | {len(ids) - 1}
                text -= box
            positions = sorted((text if 'text' in trained_parts[task] else set()) |
                               (box if 'box' in trained_parts[task] else set()))
            picked_logits.append(logits[r, positions])
            picked_targets.append(rows.tokens[r, positions])
        expected = F.cross_entropy(torch.cat(picked_logits), torch.cat(picked_targets))
        assert torch.allclose(losses[f'loss_{task}'], expected, atol=1e-5), task
