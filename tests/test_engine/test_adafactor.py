"""ScalingViTAdafactor: torch's Adafactor where they overlap, the formulas, resume, configs."""
import io
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from locca_mm.engine import ScalingViTAdafactor, second_moment_decay


def _params(dtype=torch.float32, seed=0):
    """A factored-size kernel [12, 10], a small kernel [4, 3], a 1-D bias, a 3-D and a 4-D one."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(12, 10), (4, 3), (10,), (2, 5, 6), (3, 2, 4, 5)]
    return [torch.nn.Parameter(0.1 * torch.randn(s, generator=g, dtype=dtype)) for s in shapes]


def _grads(params, steps, seed=1):
    """Fixed gradients per step; their scale grows so clipping engages at some steps."""
    g = torch.Generator().manual_seed(seed)
    return [[(1 + t) * 1e-2 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]
            for t in range(steps)]


def _run(optimizer, params, grads):
    for step_grads in grads:
        for p, grad in zip(params, step_grads):
            p.grad = grad.clone()
        optimizer.step()


@pytest.mark.parametrize('threshold', [None, 1.0])
def test_matches_torch_adafactor_without_momentum(threshold):
    # Torch's step is max(eps2, RMS(p)) * min(lr, 1/sqrt(t)): with eps2 = 1 > RMS(p)
    # and lr <= 1/sqrt(8) it is lr, our absolute step. Torch factors every >=2-D
    # parameter, so min_dim_size_to_factor=1 here; our unfactored 2-D case (below
    # the threshold) has no torch counterpart and is checked in the reference test.
    lr, wd, steps = 1e-2, 0.1, 8
    ours, theirs = _params(), _params()
    grads = _grads(ours, steps)
    _run(ScalingViTAdafactor(ours, lr=lr, beta1=None, decay_rate=0.8, beta2_cap=1.0, eps=1e-30,
                             clipping_threshold=threshold, weight_decay=wd,
                             min_dim_size_to_factor=1), ours, grads)
    d = math.inf if threshold is None else threshold
    _run(torch.optim.Adafactor(theirs, lr=lr, beta2_decay=-0.8, eps=(1e-30, 1.0), d=d,
                               weight_decay=wd), theirs, grads)
    for a, b in zip(ours, theirs):
        assert b.detach().pow(2).mean().sqrt() < 1  # the mapping's condition held
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    initial = _params()
    assert all((a - p0).abs().max() > 1e-3 for a, p0 in zip(ours, initial))  # they moved


def _reference(params, grads, lr, beta1, wd, threshold, min_size, eps=1e-30):
    """The update rule written out from the formulas, one parameter at a time."""
    params = [p.detach().clone() for p in params]
    moments = [None] * len(params)
    momentum = [torch.zeros_like(p) for p in params]
    for t, step_grads in enumerate(grads, start=1):
        beta2 = min(0.999, 1 - t**-0.8)
        for i, (p, g) in enumerate(zip(params, step_grads)):
            g2 = g * g + eps
            if p.dim() >= 2 and min(p.shape[-2:]) >= min_size:
                row, col = moments[i] or (torch.zeros(p.shape[:-1], dtype=p.dtype),
                                          torch.zeros(p.shape[:-2] + p.shape[-1:], dtype=p.dtype))
                row = beta2 * row + (1 - beta2) * g2.mean(-1)
                col = beta2 * col + (1 - beta2) * g2.mean(-2)
                moments[i] = (row, col)
                v = row[..., :, None] * col[..., None, :] / row.mean(-1)[..., None, None]
            else:
                v = beta2 * (0 if moments[i] is None else moments[i]) + (1 - beta2) * g2
                moments[i] = v
            u = g / v.sqrt()
            u = u / max(1.0, u.pow(2).mean().sqrt().item() / threshold)
            momentum[i] = beta1 * momentum[i] + (1 - beta1) * u
            params[i] = p - lr * momentum[i] - lr * wd * p
    return params


def test_matches_formulas_with_momentum_and_clipping():
    # float64 so the comparison can be tight; threshold 0.5 clips every step
    # (|u| = 1 at step 1), min size 5 factors [12, 10] and [2, 5, 6] only.
    lr, beta1, wd, threshold, min_size, steps = 3e-2, 0.9, 0.05, 0.5, 5, 6
    params = _params(torch.float64)
    grads = _grads(params, steps)
    expected = _reference(params, grads, lr, beta1, wd, threshold, min_size)
    optimizer = ScalingViTAdafactor(params, lr=lr, beta1=beta1, clipping_threshold=threshold,
                                    weight_decay=wd, min_dim_size_to_factor=min_size,
                                    momentum_dtype='float64')
    _run(optimizer, params, grads)
    assert ['row_var' in optimizer.state[p] for p in params] == [True, False, False, True, False]
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-12)


def test_second_moment_decay_schedule():
    for t in (1, 2, 3, 10, 100, 5000, 6000, 10**6):
        assert second_moment_decay(t) == pytest.approx(min(1 - t**-0.8, 0.999), abs=1e-15)
    assert second_moment_decay(1) == 0.0
    assert second_moment_decay(2) == pytest.approx(1 - 2**-0.8)  # 0.42565...
    assert second_moment_decay(6000) == 0.999  # 1 - 6000**-0.8 = 0.99905 is capped
    # The state follows it: v_2 = β2(2) v_1 + (1 - β2(2)) g_2² with v_1 = g_1² (β2(1) = 0).
    p = torch.nn.Parameter(torch.zeros(3))
    optimizer = ScalingViTAdafactor([p], beta1=None)
    g1, g2 = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 1.0, 0.5])
    _run(optimizer, [p], [[g1], [g2]])
    beta2 = 1 - 2**-0.8
    torch.testing.assert_close(optimizer.state[p]['variance'],
                               beta2 * g1**2 + (1 - beta2) * g2**2)


def test_decoupled_weight_decay_with_zero_gradients():
    lr, wd = 0.1, 0.2
    params = _params()
    initial = [p.detach().clone() for p in params]
    optimizer = ScalingViTAdafactor(params, lr=lr, weight_decay=wd, min_dim_size_to_factor=4)
    for step in range(1, 4):
        _run(optimizer, params, [[torch.zeros_like(p) for p in params]])
        for p, p0 in zip(params, initial):
            torch.testing.assert_close(p.detach(), p0 * (1 - lr * wd)**step, rtol=1e-6, atol=0)


def _train_steps(optimizer, params, grads):
    _run(optimizer, params, grads)
    return [p.detach().clone() for p in params]


@pytest.mark.parametrize('dtype,momentum_dtype', [(torch.float32, 'float32'),
                                                  (torch.float32, 'bfloat16'),
                                                  (torch.bfloat16, 'float32')])
def test_state_dict_round_trip_resumes_identically(dtype, momentum_dtype):
    kwargs = dict(lr=1e-2, weight_decay=0.1, min_dim_size_to_factor=4,
                  momentum_dtype=momentum_dtype)
    grads = _grads(_params(), 6)
    grads = [[g.to(dtype) for g in step] for step in grads]
    uninterrupted = _params(dtype)
    expected = _train_steps(ScalingViTAdafactor(uninterrupted, **kwargs), uninterrupted, grads)

    first = _params(dtype)
    optimizer = ScalingViTAdafactor(first, **kwargs)
    _run(optimizer, first, grads[:3])
    buffer = io.BytesIO()
    torch.save({'params': [p.detach() for p in first], 'optim': optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = [torch.nn.Parameter(p) for p in saved['params']]
    optimizer = ScalingViTAdafactor(resumed, lr=1.0)  # hyper-parameters come from the state
    optimizer.load_state_dict(saved['optim'])
    assert optimizer.state[resumed[0]]['exp_avg'].dtype == getattr(torch, momentum_dtype)
    assert optimizer.state[resumed[0]]['row_var'].dtype == torch.float32
    for p, e in zip(_train_steps(optimizer, resumed, grads[3:]), expected):
        assert torch.equal(p, e)


def test_rejects_sparse_gradients():
    embedding = torch.nn.Embedding(5, 3, sparse=True)
    optimizer = ScalingViTAdafactor(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match='sparse'):
        optimizer.step()


@pytest.mark.parametrize('kwargs', [dict(lr=-1.0), dict(beta1=1.0), dict(beta2_cap=0.0),
                                    dict(eps=0.0), dict(clipping_threshold=0.0),
                                    dict(weight_decay=-0.1), dict(min_dim_size_to_factor=0),
                                    dict(momentum_dtype='int8')])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ScalingViTAdafactor([torch.nn.Parameter(torch.zeros(2))], **kwargs)


@pytest.mark.parametrize('type_name', ['ScalingViTAdafactor', 'BigVisionAdafactor'])
def test_builds_from_config_and_trains_a_regression(type_name):
    from mmengine.registry import DefaultScope
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    y = x @ torch.randn(8, 1) + 0.5
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    with DefaultScope.overwrite_default_scope('locca_mm'):
        wrapper = build_optim_wrapper(model, dict(optimizer=dict(type=type_name, lr=1e-2)))
    assert type(wrapper.optimizer) is ScalingViTAdafactor
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.mse_loss(model(x), y)
        wrapper.update_params(loss)
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_builds_with_scoped_type_name():
    model = torch.nn.Linear(2, 2)
    wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='locca_mm.ScalingViTAdafactor', lr=1e-3, beta1=None)))
    assert isinstance(wrapper.optimizer, ScalingViTAdafactor)
    assert wrapper.optimizer.param_groups[0]['beta1'] is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    kwargs = dict(lr=1e-2, weight_decay=0.1, min_dim_size_to_factor=4)
    cpu, gpu = _params(), [torch.nn.Parameter(p.detach().cuda()) for p in _params()]
    grads = _grads(cpu, 4)
    _run(ScalingViTAdafactor(cpu, **kwargs), cpu, grads)
    _run(ScalingViTAdafactor(gpu, **kwargs), gpu, [[g.cuda() for g in s] for s in grads])
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(a.detach(), b.detach().cpu(), rtol=0, atol=1e-6)


@pytest.mark.parametrize('threshold', [None, 0.5])
def test_matches_timm_adafactor_big_vision(threshold):
    """Ten steps against timm's AdafactorBigVision (a port of big_vision's
    scale_by_adafactor): factored / full moments, dims factored over the two largest
    (a [64, 3, 40, 2] tensor factors dims 0 and 2), momentum, lr-scaled weight decay."""
    timm_optim = pytest.importorskip('timm.optim')
    g = torch.Generator().manual_seed(0)
    shapes = [(48, 40), (40, 48), (40, 8), (48,), (1, 36, 40), (64, 3, 40, 2)]
    ours = [torch.nn.Parameter(0.1 * torch.randn(s, generator=g)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    kwargs = dict(lr=1e-2, weight_decay=1e-2, clipping_threshold=threshold)
    a = ScalingViTAdafactor(ours, **kwargs)  # big_vision's defaults otherwise
    b = timm_optim.AdafactorBigVision(theirs, momentum=0.9, momentum_dtype=torch.float32,
                                      min_dim_size_to_factor=32, **kwargs)
    grads = _grads(ours, 10)
    _run(a, ours, grads)
    _run(b, theirs, grads)
    for p, q in zip(ours, theirs):
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-7), p.shape
    # The same moments were kept: factored where big_vision factors.
    factored = ['row_var' in a.state[p] for p in ours]
    assert factored == [True, True, False, False, True, True]
    assert a.state[ours[-1]]['row_var'].shape == (64, 3, 1, 2)  # dim 2 reduced


def test_big_vision_defaults():
    opt = ScalingViTAdafactor([torch.nn.Parameter(torch.zeros(2, 2))])
    group = opt.param_groups[0]
    assert group['min_dim_size_to_factor'] == 32 and group['clipping_threshold'] is None
    assert (group['decay_rate'], group['beta2_cap'], group['beta1']) == (0.8, 0.999, 0.9)


def test_the_optimizer_state_holds_plain_values_only():
    """torch.distributed's state-dict gathering (FSDP checkpoints) takes tensors, numbers,
    strings and containers of them: the momentum dtype is kept by name."""
    p = torch.nn.Parameter(torch.randn(8, 8))
    optimizer = ScalingViTAdafactor([p], momentum_dtype=torch.bfloat16)
    p.grad = torch.randn(8, 8)
    optimizer.step()
    group = optimizer.state_dict()['param_groups'][0]
    assert group['momentum_dtype'] == 'bfloat16'
    assert not [k for k, v in group.items() if isinstance(v, torch.dtype)]
    assert optimizer.state[p]['exp_avg'].dtype == torch.bfloat16
