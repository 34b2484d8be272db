"""The speed goals ``tools/benchmarks/gpu_check.py`` reports (:data:`GOALS`,
:func:`goals_report`), and the measurements behind them that ``benchmark.py`` does not make:
the training batch that fits (:func:`fit_batch`) and greedy decoding with each KV cache
layout (:func:`decode_rates`).
"""
from .common import autocast, sync, time_each, time_it

#: goal -> (where the value is in the JSON, comparison, target, what it asks). Targets are
#: for one H100 / H200, ViT-B/16, bfloat16 (the GPU speed goals of the project).
GOALS = {
    'mfu_locca': (('mfu', 'locca_compiled'), '>=', 0.40,
                  'LocCa-B/16 training step at the largest batch that fits: MFU'),
    'locca_over_cap': (('locca_over_cap', 'compiled'), '<=', 1.15,
                       'LocCa / Cap step time at the same batch'),
    'kv_speedup_b8': (('decode', 'b8', 'speedup_over_uncached'), '>=', 5.0,
                      'KV-cached greedy decoding of 64 tokens, batch 8: x the uncached speed'),
    'kv_tokens_per_s_b8': (('decode', 'b8', 'tokens_per_s'), '>=', 3000.0,
                           'KV-cached greedy decoding of 64 tokens, batch 8: new tokens/s'),
    'vs_open_clip_coca_train': (('vs_open_clip_coca_train',), '>', 1.0,
                                'open_clip CoCa step time / ours, matched size'),
    'vs_open_clip_coca_generate': (('vs_open_clip_coca_generate',), '>', 1.0,
                                   'open_clip CoCa 64-token generation time / ours'),
}


def _lookup(out: dict, path):
    for key in path:
        if not isinstance(out, dict) or key not in out:
            return None
        out = out[key]
    return out if isinstance(out, (int, float)) else None


def goals_report(out: dict, judged: bool, why_not: str = '') -> dict:
    """Every goal with its measured ``value``, ``target`` and ``ok``: True / False when
    ``judged`` (a full run on a GPU), None otherwise (with ``why_not``), or when the value
    is missing (its check failed: see ``errors``)."""
    report = {}
    for name, (path, op, target, what) in GOALS.items():
        value = _lookup(out, path)
        ok = None
        if judged and value is not None:
            ok = bool(value >= target if op == '>=' else value <= target if op == '<=' else
                      value > target)
        report[name] = dict(value=value, target=f'{op} {target}', ok=ok, what=what)
    if not judged:
        report['not_judged'] = why_not
    return report


def fit_batch(step_for, device, start: int, floor: int = 256) -> dict:
    """The largest per-GPU batch of ``start, start / 2, ...`` whose training step runs,
    trying activation checkpointing when none of at least ``floor`` fits without it.

    ``step_for(batch, with_cp)`` builds what a step needs and returns the step; it is run
    once. Returns ``dict(batch, activation_checkpointing, tried)``.
    """
    import torch
    tried = []
    for with_cp in (False, True):
        batch = start
        while batch >= (floor if not with_cp else 1):
            try:
                step_for(batch, with_cp)()
                sync()
                return dict(batch=batch, activation_checkpointing=with_cp, tried=tried)
            except torch.OutOfMemoryError:
                tried.append([batch, with_cp, 'out of memory'])
                if device.type == 'cuda':
                    torch.cuda.empty_cache()
            batch //= 2
    raise RuntimeError(f'no training batch fits: {tried}')


def decode_rates(model, n: int, new: int, amp: bool, reps: int, layouts=None) -> dict:
    """Greedy decoding of ``new`` tokens for ``n`` Cap prompts over memory computed once
    (``encode_s``, outside the timed decodes): seconds and new tokens/s of each KV cache
    layout (``layouts``, default all of ``DECODE_CACHES``) and of the uncached decode (which
    re-runs the whole prefix every step), and each one's speed over the uncached one."""
    import torch

    from locca_mm.models.decoding import DECODE_CACHES, TextConstraint, generate
    text = model.tokenizer.text_tokenizer
    device = next(model.parameters()).device
    img = model.backbone.img_size[0]
    images = torch.randn(n, 3, img, img, generator=torch.Generator().manual_seed(0)).to(device)

    def encode():
        with torch.no_grad(), autocast(amp, device):
            return model.head.project_memory(model.extract_feat(images))

    encode_s = time_it(encode, 1)
    memory = encode()
    constraint = TextConstraint(text.text_token_mask(), text.eos_id, min_tokens=new)
    prompts = [model.tokenizer.prompt('cap').to(device)] * n
    variants = dict(uncached=dict(use_cache=False),
                    **{k: DECODE_CACHES[k] for k in (layouts or DECODE_CACHES)})

    def run(kw):
        def call():
            with torch.no_grad(), autocast(amp, device):
                generate(model.head.decoder, memory, prompts, constraint, text.eos_id, new,
                         **kw)
        return call

    times = dict(zip(variants, time_each([run(kw) for kw in variants.values()], reps)))
    best = min((k for k in variants if k != 'uncached'), key=times.get)
    return dict(encode_s=round(encode_s, 4), seconds={k: round(t, 4) for k, t in times.items()},
                tokens_per_s_each={k: round(n * new / t, 1) for k, t in times.items()},
                speedup_each={k: round(times['uncached'] / t, 2) for k, t in times.items()},
                best=best, tokens_per_s=round(n * new / times[best], 1),
                speedup_over_uncached=round(times['uncached'] / times[best], 2))
