"""Write the golden files of tests/test_golden/ by running the real big_vision code.

    python tests/data/make_golden.py [--big-vision DIR] [--out tests/data/golden]

Not run by the test suite: it needs jax, flax and optax (CPU is enough) and a
checkout of big_vision, and takes under a minute. The tests only read the
``.npz`` files it writes. Made with jax 0.10.2, flax 0.12.8, optax 0.2.8 on CPU
(float32; jax's default precision, which is full float32 on CPU).

big_vision source: https://github.com/google-research/big_vision, commit
``0127fb6b337ee2a27bf4e54dea79cff176527356`` (recorded in every file as
``meta/big_vision_commit``). ``DIR`` (``--big-vision``, else ``$BIG_VISION``,
else ``/tmp/bv``) is the directory holding its ``big_vision/`` package, e.g.::

    git -C big_vision.git archive 0127fb6b big_vision | tar -x -C /tmp/bv

Stubbed: ``big_vision/utils.py`` imports ``tensorflow.io.gfile`` (used there
only to read and write checkpoint files, which nothing here does), so an empty
``tensorflow`` / ``tensorflow.io`` / ``tensorflow.io.gfile`` module is put in
``sys.modules`` when tensorflow is not installed (after importing
``flax.training.checkpoints``, which probes for a real tensorflow). Nothing
else is replaced.

What it writes (``/``-joined names; parameters under ``params/`` exactly as
``flax.traverse_util.flatten_dict`` names them in the model's variables):

``vit_learn_map.npz``, ``vit_sincos_scan.npz``
    ``big_vision.models.vit.Model`` (``_Model``; 16 px images, patch 4, depth
    2, width 16 with 2 heads / width 24 with 3 heads, MLP 4x): a learned table,
    pool_type ``'map'`` (its ``MAPHead_0`` is in the file and must be dropped
    by the converter), not scanned; and a sin-cos table, pool_type ``'none'``,
    ``scan=True`` (blocks stacked on a leading axis, ``encoderblock/...``).
    Parameters from ``init`` with a fixed key, then every leaf perturbed
    (``p + 0.1 N(0, 1)``, LayerNorm scales ``1 + 0.1 N``) so that no bias or
    norm is trivial. ``input/images`` [B, H, W, C] (NHWC, as big_vision takes
    them), ``output/encoded`` [B, N, D]: ``out['encoded']``, the tokens after
    ``encoder_norm``.
``cappa_learn.npz``, ``cappa_sincos_scan_bias.npz``
    ``big_vision.models.proj.cappa.cappa.Model`` (encoder width 24, decoder
    width 16, 2 decoder layers, 2 heads, MLP 64, vocabulary 40, seq_len 8,
    ``masked_pred_prob=1.0``, ``masking_ratio=1.0``): its ``decode`` on fixed
    random encoder tokens ``input/encoded`` [B, 16, 24] and text
    ``input/text`` [B, L] (right-padded with 0). ``output/logits_causal``:
    ``train=False`` (inputs ``shift_right(text)``, causal mask);
    ``output/logits_parallel``: ``train=True`` with dropout 0, where every row
    takes the masked-prediction branch with every input replaced by the mask
    token (id 40) and an all-ones self-attention mask (CapPa's parallel
    prediction). The first file is CapPa's pretraining decoder
    (``decoder_bias=False``, posemb ``'learn'``); the second has
    ``decoder_bias=True``, the sin-cos table and ``scan=True`` (decoder
    parameters stacked on axis 1). Only ``params/decoder/...`` and
    ``params/pos_embedding_decoder`` are saved (perturbed as above).
``adafactor.npz``
    ``big_vision.optax.scale_by_adafactor`` (``min_dim_size_to_factor=8``,
    ``decay_rate=0.8``, ``beta2_cap=0.85``, which β2 = 1 - t^-0.8 reaches at
    step 11, ``momentum=0.9`` with a float32 accumulator, ``eps=1e-30``) for
    20 steps on ``params/*`` (a factored [10, 9] and [2, 8, 9], an
    unfactored [3, 9], a vector [9] and a scalar) with the gradients
    ``grads/<name>`` [20, ...] (a random scale per step), once with
    ``clipping_threshold=None`` (``noclip/updates/<name>``) and once with 1.0
    (``clip/updates/<name>``): the transformation's output at every step,
    i.e. the update before the learning rate.
"""
import argparse
import json
import os
import os.path as osp
import sys
import types

import numpy as np

COMMIT = '0127fb6b337ee2a27bf4e54dea79cff176527356'
HERE = osp.dirname(osp.abspath(__file__))


def import_big_vision(path):
    """Put ``path`` on sys.path, stub tensorflow if absent, import the three modules."""
    sys.path.insert(0, path)
    import flax.training.checkpoints  # noqa: F401 - before the stub: flax probes for tensorflow
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        for name in ('tensorflow', 'tensorflow.io', 'tensorflow.io.gfile'):
            sys.modules[name] = types.ModuleType(name)
        sys.modules['tensorflow'].io = sys.modules['tensorflow.io']
        sys.modules['tensorflow.io'].gfile = sys.modules['tensorflow.io.gfile']
    from big_vision import optax as bv_optax
    from big_vision.models import vit
    from big_vision.models.proj.cappa import cappa
    return vit, cappa, bv_optax


def perturb(variables, key):
    """Every leaf + 0.1 N(0, 1) (a LayerNorm scale: 1 + 0.1 N), float32, flattened."""
    import jax
    from flax import traverse_util
    flat = traverse_util.flatten_dict(variables, sep='/')
    out = {}
    for i, (name, value) in enumerate(sorted(flat.items())):
        noise = 0.1 * np.asarray(jax.random.normal(jax.random.fold_in(key, i), value.shape))
        base = np.ones_like(value) if name.endswith('/scale') else np.asarray(value)
        out[name] = (base + noise).astype(np.float32)
    return out


def unflatten(flat):
    """Inverse of :func:`perturb`'s flattening."""
    from flax import traverse_util
    return traverse_util.unflatten_dict({tuple(k.split('/')): v for k, v in flat.items()})


def meta(config):
    """The metadata arrays every file carries."""
    return {'meta/big_vision_commit': np.array(COMMIT),
            'meta/config': np.array(json.dumps(config, sort_keys=True))}


def make_vit(vit, out_dir, name, config, seed):
    """One big_vision ViT: parameters, images, encoded tokens."""
    import jax
    key = jax.random.PRNGKey(seed)
    size = config.pop('image_size')
    model = vit.Model(**config)
    images = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (2, size, size, 3)),
                        np.float32)
    variables = model.init(jax.random.fold_in(key, 2), images)
    params = perturb(variables, jax.random.fold_in(key, 3))
    _, out = model.apply(unflatten(params), images)
    arrays = dict(params, **{'input/images': images,
                             'output/encoded': np.asarray(out['encoded'], np.float32)})
    arrays.update(meta(dict(config, image_size=size)))
    np.savez(osp.join(out_dir, name), **arrays)


def make_cappa(cappa, out_dir, name, config, seed):
    """One CapPa decoder: its parameters, encoder tokens, text, causal and parallel logits."""
    import jax
    key = jax.random.PRNGKey(seed)
    model = cappa.Model(**config)
    b, length, vocab = 3, config['seq_len'], config['vocab_size']
    grid = config['patches'][0]
    image = np.zeros((1, 4 * grid, 4 * grid, 3), np.float32)
    text = np.array(jax.random.randint(jax.random.fold_in(key, 1), (b, length), 1, vocab))
    text[1, 5:] = 0  # right padding, as big_vision's tokenizers pad
    text[2, 3:] = 0
    encoded = np.asarray(jax.random.normal(jax.random.fold_in(key, 2), (b, 16, config['emb_dim'])),
                         np.float32)
    variables = model.init(jax.random.fold_in(key, 3), image, text[:1])
    params = perturb(variables, jax.random.fold_in(key, 4))
    params = {k: v for k, v in params.items() if not k.startswith('params/encoder/')}
    tree = unflatten(params)
    causal = model.apply(tree, encoded, text, method=model.decode)
    parallel = model.apply(tree, encoded, text, train=True, method=model.decode,
                           rngs={'dropout': jax.random.fold_in(key, 5)})
    arrays = dict(params, **{'input/encoded': encoded, 'input/text': text.astype(np.int32),
                             'output/logits_causal': np.asarray(causal, np.float32),
                             'output/logits_parallel': np.asarray(parallel, np.float32)})
    arrays.update(meta(config))
    np.savez(osp.join(out_dir, name), **arrays)


ADAFACTOR_SHAPES = {'kernel': (10, 9), 'stacked': (2, 8, 9), 'small': (3, 9),
                    'bias': (9,), 'scale': ()}
ADAFACTOR = dict(min_dim_size_to_factor=8, decay_rate=0.8, decay_offset=0, beta2_cap=0.85,
                 momentum=0.9, eps=1e-30)
ADAFACTOR_STEPS = 20


def run_adafactor(bv_optax, params, grads, clipping_threshold):
    """The transformation's updates at every step: name -> [steps, ...]."""
    import jax.numpy as jnp
    tx = bv_optax.scale_by_adafactor(clipping_threshold=clipping_threshold,
                                     dtype_momentum=jnp.float32, **ADAFACTOR)
    state = tx.init(params)
    updates = {k: [] for k in params}
    for t in range(ADAFACTOR_STEPS):
        step = {k: jnp.asarray(g[t]) for k, g in grads.items()}
        u, state = tx.update(step, state, params)
        for k in params:
            updates[k].append(np.asarray(u[k], np.float32))
    return {k: np.stack(v) for k, v in updates.items()}


def make_adafactor(bv_optax, out_dir, seed):
    """big_vision's Adafactor on fixed parameters and gradients, with and without clipping."""
    rng = np.random.default_rng(seed)
    params = {k: (0.5 * rng.standard_normal(s)).astype(np.float32)
              for k, s in ADAFACTOR_SHAPES.items()}
    scales = np.exp(rng.normal(0.0, 1.5, ADAFACTOR_STEPS))  # so clipping engages sometimes
    grads = {k: (scales.reshape((-1,) + (1,) * len(s))
                 * rng.standard_normal((ADAFACTOR_STEPS,) + s)).astype(np.float32)
             for k, s in ADAFACTOR_SHAPES.items()}
    arrays = {f'params/{k}': v for k, v in params.items()}
    arrays.update({f'grads/{k}': v for k, v in grads.items()})
    for tag, threshold in (('noclip', None), ('clip', 1.0)):
        updates = run_adafactor(bv_optax, params, grads, threshold)
        arrays.update({f'{tag}/updates/{k}': v for k, v in updates.items()})
    arrays.update(meta(dict(ADAFACTOR, steps=ADAFACTOR_STEPS, dtype_momentum='float32',
                            clipping_threshold={'noclip': None, 'clip': 1.0})))
    np.savez(osp.join(out_dir, 'adafactor.npz'), **arrays)


VIT_CONFIGS = {
    'vit_learn_map.npz': dict(patch_size=(4, 4), width=16, depth=2, mlp_dim=64, num_heads=2,
                              posemb='learn', pool_type='map', image_size=16),
    'vit_sincos_scan.npz': dict(patch_size=(4, 4), width=24, depth=2, mlp_dim=96, num_heads=3,
                                posemb='sincos2d', pool_type='none', scan=True, image_size=16),
}
CAPPA_BASE = dict(num_heads=2, num_layers=1, mlp_dim=96, emb_dim=24, vocab_size=40, seq_len=8,
                  patches=(4, 4), decoder_num_heads=2, decoder_num_layers=2,
                  decoder_mlp_dim=64, decoder_emb_dim=16, masked_pred_prob=1.0,
                  masking_ratio=1.0)
CAPPA_CONFIGS = {
    'cappa_learn.npz': dict(CAPPA_BASE, posemb_type='learn', decoder_bias=False),
    'cappa_sincos_scan_bias.npz': dict(CAPPA_BASE, posemb_type='sincos2d', decoder_bias=True,
                                       scan=True),
}


def main():
    """Parse the arguments, run the references, write the files."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--big-vision', default=os.environ.get('BIG_VISION', '/tmp/bv'),
                        help='directory holding the big_vision/ package')
    parser.add_argument('--out', default=osp.join(HERE, 'golden'))
    args = parser.parse_args()
    os.environ.setdefault('JAX_PLATFORMS', 'cpu')
    vit, cappa, bv_optax = import_big_vision(args.big_vision)
    os.makedirs(args.out, exist_ok=True)
    for seed, (name, config) in enumerate(VIT_CONFIGS.items()):
        make_vit(vit, args.out, name, dict(config), seed)
    for seed, (name, config) in enumerate(CAPPA_CONFIGS.items()):
        make_cappa(cappa, args.out, name, dict(config), 10 + seed)
    make_adafactor(bv_optax, args.out, 20)
    for name in sorted(os.listdir(args.out)):
        print(f'{name}: {osp.getsize(osp.join(args.out, name)) / 1024:.1f} KiB')


if __name__ == '__main__':
    main()
