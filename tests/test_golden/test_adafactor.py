"""big_vision's scale_by_adafactor (big_vision/optax.py) == ScalingViTAdafactor, every
update of 20 steps within 1e-5, with and without update clipping."""
import numpy as np
import pytest
import torch

from locca_mm.engine import ScalingViTAdafactor

from . import load_golden

LR = 0.01


def _run(tag, **overrides):
    """Drive ScalingViTAdafactor with the golden gradients; the largest differences of
    (the update before the lr, the parameters) from big_vision's, over every step."""
    arrays, config = load_golden('adafactor.npz')
    names = sorted(k[len('params/'):] for k in arrays if k.startswith('params/'))
    params = [torch.nn.Parameter(torch.tensor(arrays[f'params/{n}'])) for n in names]
    kwargs = dict(lr=LR, beta1=config['momentum'], decay_rate=config['decay_rate'],
                  beta2_cap=config['beta2_cap'], eps=config['eps'],
                  clipping_threshold=config['clipping_threshold'][tag],
                  min_dim_size_to_factor=config['min_dim_size_to_factor'])
    optimizer = ScalingViTAdafactor(params, **dict(kwargs, **overrides))
    expected = [arrays[f'params/{n}'].copy() for n in names]
    err_update = err_param = 0.0
    for t in range(config['steps']):
        for p, n in zip(params, names):
            p.grad = torch.tensor(np.asarray(arrays[f'grads/{n}'][t]))
        optimizer.step()
        for i, (p, n) in enumerate(zip(params, names)):
            update = np.asarray(arrays[f'{tag}/updates/{n}'][t])
            expected[i] = expected[i] - np.float32(LR) * update
            ours = optimizer.state[p]['exp_avg'].numpy()
            err_update = max(err_update, float(np.abs(ours - update).max()))
            err_param = max(err_param, float(np.abs(p.detach().numpy() - expected[i]).max()))
    return err_update, err_param


@pytest.mark.parametrize('tag', ['noclip', 'clip'])
def test_updates_and_parameters_follow_big_vision(tag):
    err_update, err_param = _run(tag)
    print(f'adafactor {tag}: max |update - big_vision| = {err_update:.3g}, '
          f'max |param - big_vision| = {err_param:.3g}')
    assert err_update < 1e-5 and err_param < 1e-5


def test_the_golden_run_exercises_the_cap_and_the_clipping():
    arrays, config = load_golden('adafactor.npz')
    # beta2 = 1 - t^-0.8 passes the cap within the run ...
    assert 1 - config['steps']**-config['decay_rate'] > config['beta2_cap']
    # ... so ignoring the cap changes the updates,
    assert _run('noclip', beta2_cap=1.0)[0] > 1e-3
    # and the clipping changed some updates.
    assert max(np.abs(arrays[f'clip/updates/{n}'] - arrays[f'noclip/updates/{n}']).max()
               for n in ('kernel', 'small', 'stacked')) > 1e-3
