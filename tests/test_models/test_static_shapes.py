"""The static-shape training layout (``LocCaHead(static_shapes=True)``): the same losses and
gradients as the dynamic layout, batches of one shape, one graph under ``torch.compile``
(no graph break) and a compiled step equal to the eager one."""
import pytest
import torch

from locca_mm.models.heads.static_rows import bucketed, row_length
from locca_mm.registry import MODELS
from tests.test_models.utils import (
    CAPPA_B,
    CLIP_B,
    COCA_B,
    LOCCA_B,
    build_tiny,
    make_batch,
    make_samples,
    randomize_logits,
    tiny_model_cfg,
)

SIGLIP2_B = 'siglip2/siglip2_vit-b16_1024xb32-1220k_webli'


def _losses(model, data, seed=1):
    torch.manual_seed(seed)  # the same parallel draw in both layouts
    return model(data['inputs'], data['data_samples'], data['task_batches'], mode='loss')


def _grads(model, data):
    model.zero_grad(set_to_none=True)
    sum(_losses(model, data).values()).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('config,overrides', [
    (LOCCA_B, {}),
    (LOCCA_B, dict(loc_sigma=1.5, label_smoothing=0.1)),
    (CAPPA_B, {}),
    (COCA_B, {}),
])
def test_static_layout_gives_the_dynamic_losses_and_gradients(config, overrides):
    model = randomize_logits(build_tiny(config, **overrides), std=0.05).train()
    data = make_batch(model, n=4)
    dynamic, g_dynamic = _losses(model, data), _grads(model, data)
    model.head.static_shapes = True
    static, g_static = _losses(model, data), _grads(model, data)
    assert static.keys() == dynamic.keys()
    for key in dynamic:
        torch.testing.assert_close(static[key], dynamic[key], rtol=1e-5, atol=1e-6)
    assert g_static.keys() == g_dynamic.keys()
    for name in g_dynamic:
        torch.testing.assert_close(g_static[name], g_dynamic[name], rtol=1e-4, atol=1e-6)


def test_a_parallel_draw_is_really_mixed_in_the_static_call():
    """The check above means something only if the Cap call held both kinds of rows."""
    model = build_tiny(LOCCA_B).train()
    data = make_batch(model, n=8)
    torch.manual_seed(1)
    drawn = model.head._parallel_rows('cap', data['task_batches']['cap'])
    assert 0 < int(drawn.sum()) < len(drawn)


def test_static_row_lengths_are_buckets_and_parallel_rows_are_full_length():
    assert [bucketed(n, 16, 48) for n in (1, 16, 17, 40, 48)] == [16, 16, 32, 48, 48]
    assert bucketed(50, 16, 48) == 50  # never shorter than the rows (pad_to then refuses)
    model = build_tiny(LOCCA_B).train()
    data = make_batch(model, n=4)
    cap, aref = data['task_batches']['cap'], data['task_batches']['aref']
    drawn = torch.ones(cap.num_rows, dtype=torch.bool)
    assert row_length(model.head, 'cap', cap, drawn) == model.tokenizer.max_length['cap']
    assert row_length(model.head, 'aref', aref, None) == bucketed(
        aref.tokens.shape[1], 16, model.tokenizer.max_length['aref'])


def test_static_preprocessor_gives_batches_of_one_shape():
    cfg = tiny_model_cfg(LOCCA_B, static_shapes=True)
    model = MODELS.build(cfg)
    assert model.data_preprocessor.static_shapes
    lengths = model.tokenizer.max_length
    samples = make_samples(model.tokenizer, n=3)
    del samples[1].task_sequences['aref']  # an image without a region of this task
    images = [torch.zeros(3, 32, 32, dtype=torch.uint8)] * 3
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    batches = data['task_batches']
    model.data_preprocessor.static_shapes = False
    dynamic = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    for task, batch in batches.items():
        longest = dynamic['task_batches'][task].tokens.shape[1]
        assert batch.tokens.shape == (3, bucketed(longest, 16, lengths[task]))
        assert batch.tokens.shape[1] % 16 == 0 or batch.tokens.shape[1] == lengths[task]
        assert batch.rows is None
    aref = batches['aref']
    assert not aref.loss_mask(model.head.pad_id)[1].any()  # the empty row trains nothing
    assert aref.loss_mask(model.head.pad_id)[0].any()
    # ... and the losses are the dynamic preprocessor's
    assert dynamic['task_batches']['aref'].num_rows == 2
    model.train()
    a, b = _losses(model, data), _losses(model, dynamic)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('config', [LOCCA_B, COCA_B, SIGLIP2_B])
def test_static_step_traces_into_one_graph(config):
    model = build_tiny(config, static_shapes=True).train()
    data = make_batch(model, n=4)
    if hasattr(model, 'start_stage_two'):
        model.start_stage_two()  # SigLIP 2: both stages' losses in the graph
    explain = torch._dynamo.explain(model.loss)(data['inputs'], data['data_samples'],
                                                data['task_batches'])
    assert explain.graph_break_count == 0, [r.reason for r in explain.break_reasons]
    assert explain.graph_count == 1
    compiled = torch.compile(model.loss, fullgraph=True, backend='eager')
    state = {k: v.clone() for k, v in model.state_dict().items()}  # SigLIP 2 moves its centres
    torch.manual_seed(3)
    out = compiled(data['inputs'], data['data_samples'], data['task_batches'])
    model.load_state_dict(state)
    torch.manual_seed(3)
    ref = model.loss(data['inputs'], data['data_samples'], data['task_batches'])
    for key in ref:
        torch.testing.assert_close(out[key], ref[key])


def test_dynamic_layout_breaks_the_graph_where_documented():
    """Why the static layout exists: the default layout reads the parallel draw back."""
    model = build_tiny(LOCCA_B).train()
    data = make_batch(model, n=4)
    explain = torch._dynamo.explain(model.loss)(data['inputs'], data['data_samples'],
                                                data['task_batches'])
    assert explain.graph_break_count > 0


def test_compiled_step_equals_eager():
    """Inductor's forward and backward of the static step against eager, one tiny model."""
    from torch._inductor import config as inductor_config
    model = randomize_logits(build_tiny(LOCCA_B, static_shapes=True), std=0.05).train()
    data = make_batch(model, n=4)
    eager, g_eager = _losses(model, data), _grads(model, data)
    torch._dynamo.reset()
    with inductor_config.patch(fallback_random=True):  # eager's random stream (parallel draw)
        compiled = torch.compile(model.loss, fullgraph=True)
        torch.manual_seed(1)
        out = compiled(data['inputs'], data['data_samples'], data['task_batches'])
        model.zero_grad(set_to_none=True)
        sum(out.values()).backward()
    for key in eager:
        torch.testing.assert_close(out[key], eager[key], rtol=1e-4, atol=1e-5)
    for name, grad in g_eager.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad,
                                   rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize('config', [CLIP_B, COCA_B, SIGLIP2_B])
def test_static_preprocessor_leaves_the_towers_losses_unchanged(config):
    """Caption rows padded to a bucket (what the static layout feeds a text tower) give
    the contrastive losses of rows padded to the batch's longest."""
    cfg = tiny_model_cfg(config)
    cfg['data_preprocessor'] = dict(static_shapes=True)
    model = randomize_logits(MODELS.build(cfg), std=0.05) if cfg.get('head') else \
        MODELS.build(cfg)
    model.train()
    samples = make_samples(model.tokenizer, n=4)
    images = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in range(4)]
    static = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    assert static['task_batches']['cap'].tokens.shape[1] % 16 == 0
    model.data_preprocessor.static_shapes = False
    dynamic = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    a, b = _losses(model, static), _losses(model, dynamic)
    assert a.keys() == b.keys() and 'loss_con' in a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
