"""LocCaHead: task losses (which tokens, which rows, empty tasks), CoCa's one pass, decoding."""
import pytest
import torch

from locca_mm.models.heads import zero_loss
from locca_mm.structures import TaskBatch
from tests.test_models.utils import COCA_B, IMG, LOCCA_B, build_tiny, make_batch, predict_samples


def test_loss_returns_a_dict_and_an_empty_task_an_exact_zero_in_the_graph():
    model = build_tiny(parallel_ratio=0.0).train()
    batch = make_batch(model, tasks=('cap', 'gcap'))
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    losses = model.head.loss(memory, batch['task_batches'])
    assert isinstance(losses, dict) and set(losses) == {'loss_cap', 'loss_aref', 'loss_gcap'}
    assert float(losses['loss_aref']) == 0.0 and losses['loss_aref'].grad_fn is not None
    empty = TaskBatch(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long), None)
    again = model.head.loss(memory, dict(batch['task_batches'], aref=empty))
    assert float(again['loss_aref']) == 0.0 and torch.equal(again['loss_cap'], losses['loss_cap'])


def test_zero_loss_adds_nothing_to_the_gradient():
    x = torch.randn(3, requires_grad=True)
    (x.square().sum() + zero_loss(x)).backward()
    assert torch.equal(x.grad, 2 * x.detach())


def test_coca_loss_and_text_embedding_in_one_pass():
    model = build_tiny(COCA_B).train()
    batch = make_batch(model, tasks=('cap', ))
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    task_batches = batch['task_batches']
    losses, emb = model.head.loss_and_text_embedding(memory, task_batches)
    assert set(losses) == {'loss_cap'} and emb.shape == (4, 32)
    plain = model.head.loss(memory, task_batches)  # the same loss without the embedding
    assert torch.allclose(plain['loss_cap'], losses['loss_cap'], atol=1e-5)
    assert torch.allclose(emb, model.head.decoder.text_embedding(task_batches['cap'].tokens))


def test_gaussian_location_targets():
    """loc_sigma -> 0 gives plain cross-entropy; a near miss costs less than a far one."""
    import torch.nn.functional as F

    from locca_mm.structures import TaskBatch
    model = build_tiny(loc_sigma=1e-3)
    head, text = model.head, model.tokenizer.text_tokenizer
    k = text.num_bins
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


@pytest.mark.parametrize('config,loc_sigma', [(LOCCA_B, 0.0), (LOCCA_B, 1.0),
                                               (COCA_B, 0.0)])
def test_logits_only_at_loss_positions_give_the_full_computation(config, loc_sigma):
    """The decoder projects to the vocabulary only where a loss is taken; losses and gradients
    equal those of logits on every position (prompt and padding included)."""
    overrides = dict(loc_sigma=loc_sigma) if loc_sigma else {}
    model = build_tiny(config, **overrides).train()
    batch = make_batch(model)
    for row in batch['task_batches'].values():  # padding in every task, so positions are skipped
        assert bool((row.tokens == model.head.pad_id).any())
    decoder = model.head.decoder
    selective = decoder._logits

    def full(x, logits_at):
        return selective(x, None)  # [R, T, V]: every position

    results = []
    for logits in (selective, full):
        decoder._logits = logits
        model.zero_grad()
        torch.manual_seed(0)  # the same parallel-prediction rows
        losses = model(**batch, mode='loss')
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        results.append((losses, {n: p.grad.clone() for n, p in model.named_parameters()
                                 if p.grad is not None}))
    decoder._logits = selective
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
    import locca_mm.models.heads.gcap_decoding as gcap_module
    import locca_mm.models.heads.locca_head as head_module
    from locca_mm.models.decoding import Generation, GroundedCaptionConstraint, TextConstraint
    model = build_tiny().eval()
    tok = model.tokenizer
    calls = []
    bins = torch.tensor([2, 4, 10, 12])  # y1, x1, y2, x2 bins in the default order
    sep = tok.text_tokenizer.encode(tok.separator)
    word = tok.text_tokenizer.encode(' cube')

    def fake_generate(decoder, memory, prompts, constraint, eos_id, max_new, **kw):
        calls.append((prompts, constraint))
        ids = ([] if isinstance(constraint, TextConstraint) else
               tok.text_tokenizer.loc_ids(bins).tolist() + sep) + word + [eos_id]
        tokens = torch.tensor([ids] * len(prompts))
        return Generation(tokens, torch.zeros(len(prompts)), torch.full((len(prompts), ), len(ids)))

    monkeypatch.setattr(head_module, 'generate', fake_generate)
    monkeypatch.setattr(gcap_module, 'generate', fake_generate)
    x = torch.randn(3, 3, IMG, IMG)
    given = torch.tensor([4., 8., 30., 40.])  # original pixels; the input is half size
    samples = predict_samples('gcap')
    samples[0].prompt_box = given
    model.predict(x, samples)
    (with_box, c1), (without, c2) = calls
    frame = (IMG, IMG)
    expected = tok.prompt('gcap', box=given * 0.5, img_shape=frame)
    assert isinstance(c1, TextConstraint) and torch.equal(with_box[0], expected)
    assert isinstance(c2, GroundedCaptionConstraint)
    assert all(torch.equal(p, tok.prompt('gcap')) for p in without) and len(without) == 2
    assert samples[0].pred_caption == 'cube' and 'pred_instances' not in samples[0]
    box_in_input = tok.box_tokenizer.decode(bins[None], frame)[0]
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
    for p in model.head.decoder.logit_layer.parameters():
        torch.nn.init.normal_(p, std=0.1)
    batch = make_batch(model, n=3)
    losses = model(**batch, mode='loss')
    tok = model.tokenizer
    memory = model.head.project_memory(model.extract_feat(batch['inputs']))
    trained_parts = dict(aref=('text', 'box'), gcap=('box', 'text'))
    trained_parts.update(loss_on or {})
    for task in ('aref', 'gcap'):
        rows = batch['task_batches'][task]
        logits = model.head.decoder(rows.tokens, memory.index_select(rows.rows))  # every position
        picked_logits, picked_targets = [], []
        for r, ds in enumerate(batch['data_samples']):
            ids = ds.task_sequences[task].tokens.tolist()
            n_prefix = len(tok.text_tokenizer.encode(tok.prefixes[task]))
            locs = [i for i, t in enumerate(ids) if tok.text_tokenizer.is_loc(torch.tensor(t))]
            box = set(range(locs[0], locs[-1] + 1))
            # aref: text = up to the separator before the box; gcap: text = after the box.
            text = set(range(n_prefix, locs[0])) if task == 'aref' else \
                set(range(locs[-1] + 1, len(ids)))
            if task == 'aref':  # ' :' and eos belong to the box part
                sep_len = len(tok.text_tokenizer.encode(' :'))
                box |= set(range(locs[0] - sep_len, locs[0])) | {len(ids) - 1}
                text -= box
            positions = sorted((text if 'text' in trained_parts[task] else set()) |
                               (box if 'box' in trained_parts[task] else set()))
            picked_logits.append(logits[r, positions])
            picked_targets.append(rows.tokens[r, positions])
        expected = F.cross_entropy(torch.cat(picked_logits), torch.cat(picked_targets))
        assert torch.allclose(losses[f'loss_{task}'], expected, atol=1e-5), task


def test_one_embedding_lookup_per_step_same_losses_and_grads_as_task_by_task():
    """LocCa's loss looks every task's tokens up at once: the table's gradient is one buffer,
    and the losses and gradients equal those of decoding the tasks one by one."""
    model = build_tiny(LOCCA_B, parallel_ratio=0.5)
    model.train()
    data = make_batch(model, n=6)
    head = model.head
    feats = model.extract_feat(data['inputs'])
    lookups = []
    handle = head.decoder.token_embed.register_forward_hook(lambda *a: lookups.append(1))
    torch.manual_seed(3)
    joint = head.loss(head.project_memory(feats), data['task_batches'])
    handle.remove()
    assert len(lookups) == 1
    grad_joint = torch.autograd.grad(sum(joint.values()), head.decoder.token_embed.weight,
                                     retain_graph=True)[0]
    torch.manual_seed(3)
    memory = head.project_memory(feats)
    apart = {f'loss_{t}': head._task_loss(t, data['task_batches'].get(t), memory)
             for t in head.tasks}
    grad_apart = torch.autograd.grad(sum(apart.values()), head.decoder.token_embed.weight)[0]
    assert sorted(joint) == sorted(apart)
    for k in joint:
        torch.testing.assert_close(joint[k], apart[k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_joint, grad_apart, rtol=1e-4, atol=1e-7)
