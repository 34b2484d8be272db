"""One command for a machine with a CUDA GPU: is locca_mm fast and right there? Prints one JSON.

    python tools/benchmarks/gpu_check.py [--batch 64] [--reps 5]

Measured in one run, on the GPU, in bfloat16 autocast (the precision ViT-B is trained in):

- ``train_step_s`` of LocCa-B and Cap-B (``configs/locca/locca_vit-b16_256xb32-1100k_webli.py``,
  ``configs/cap/cap_vit-b16_256xb32-1100k_webli.py``,
  a 32k-word synthetic vocabulary, 64-token captions; forward, backward, AdamW), timed in
  alternation; ``locca_over_cap``; ``step_peak_mem_mb`` of each (peak allocated during a
  step above the resident weights, gradients and optimizer state); ``mfu`` of each from the FLOPs
  ``torch.utils.flop_counter`` counts (x3 for forward + backward) and the GPU's dense bf16 peak;
- ``kv_cache_speedup``: greedy decoding of 64 new tokens with and without the KV cache;
- ``fsdp``: one training step of LocCa-B sharded by ``FSDP2Strategy`` (bf16 parameters,
  fp32 reduction) in a one-process NCCL group, and its loss against the unsharded model's;
- ``bf16_vs_fp32``: the same batch through the same weights in fp32 and in bf16 autocast: the
  relative difference of the loss and the cosine similarity of the whole gradient, with the
  tolerances they are held to (``ok``).

It needs torch with CUDA and the pure-Python part of the stack (mmengine, mmcv built without
ops, mmpretrain, tokenizers), so it also runs from an offline wheelhouse (docs/en/get_started.md,
"Installation"). It takes a few minutes on one H100 (``--batch 64``). On a machine without a
CUDA GPU it refuses (exit 2); ``--allow-cpu --quick`` runs the same code on tiny models on the
CPU, which is what the test suite does.
"""
import argparse
import contextlib
import json
import math
import os
import socket
import sys
import tempfile
import time

# The tolerances bf16 autocast is held to against fp32 (one step, same weights and batch).
LOSS_RTOL = 2e-2
GRAD_COSINE_MIN = 0.95


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=None, help='images per step (default 64)')
    parser.add_argument('--reps', type=int, default=None, help='timed repetitions (default 5)')
    parser.add_argument('--quick', action='store_true', help='tiny models (seconds)')
    parser.add_argument('--allow-cpu', action='store_true',
                        help='run on the CPU when there is no GPU (with --quick, for tests)')
    return parser.parse_args(argv)


def _autocast(device, enabled=True):
    import torch
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else \
        contextlib.nullcontext()


def _loss(model, data, amp):
    with _autocast(data['inputs'].device, amp):
        losses = model(**data, mode='loss')
    return sum(v for k, v in losses.items() if 'loss' in k)


def _peak_mb(device, fn):
    """Peak memory allocated while ``fn`` runs, above what was allocated before it
    (weights, gradients and optimizer state stay resident between steps)."""
    import torch
    if device.type != 'cuda':
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return round((torch.cuda.max_memory_allocated() - before) / 2**20, 1)


def check_train(args, tokfile, device, out):
    """bf16 LocCa-B and Cap-B steps side by side: time, memory, MFU."""
    import torch

    from locca_mm.cli.bench.common import (
        PEAK_TFLOPS,
        batch_for,
        build,
        forward_flops,
        time_each,
        to_device,
        train_step,
    )
    models = {name: build(cfg, tokfile, args.quick).to(device)
              for name, cfg in (('cap', 'cap/cap_vit-b16_256xb32-1100k_webli'),
                                ('locca', 'locca/locca_vit-b16_256xb32-1100k_webli'))}
    img = models['locca'].backbone.img_size[0]
    data = {k: to_device(batch_for(m, args.batch, img), device) for k, m in models.items()}
    steps = {k: train_step(m, data[k], amp=True) for k, m in models.items()}
    t_cap, t_locca = time_each([steps['cap'], steps['locca']], args.reps)
    times = dict(cap=t_cap, locca=t_locca)
    peak = next((v for k, v in PEAK_TFLOPS.items()
                 if device.type == 'cuda' and k in torch.cuda.get_device_name()), None)
    out['train_step_s'] = {k: round(t, 4) for k, t in times.items()}
    out['locca_over_cap'] = round(t_locca / t_cap, 3)
    out['step_peak_mem_mb'] = {k: _peak_mb(device, steps[k]) for k in models}
    out['achieved_tflops'], out['mfu'] = {}, {}
    for k, model in models.items():
        with _autocast(device):
            flops = 3 * forward_flops(model, data[k])
        out['achieved_tflops'][k] = round(flops / times[k] / 1e12, 2)
        out['mfu'][k] = round(flops / times[k] / (peak * 1e12), 3) if peak else None
    out['peak_bf16_tflops'] = peak


def check_decode(args, tokfile, device, out):
    """Greedy decoding of 64 tokens with and without the KV cache (benchmark's section)."""
    from locca_mm.cli.bench.sections import bench_decode
    bench_decode(args, tokfile, device, out)


@contextlib.contextmanager
def _one_process_group(device):
    import torch.distributed as dist
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo',
                            init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def check_fsdp(args, tokfile, device, out):
    """One FSDP2Strategy step (bf16 parameters, fp32 reduction) on one process."""
    import torch

    from locca_mm.cli.bench.common import batch_for, build, time_it, to_device
    from locca_mm.engine.strategies.fsdp2 import FSDP2Strategy
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    img = model.backbone.img_size[0]
    data = to_device(batch_for(model, args.batch, img), device)
    with torch.no_grad(), _autocast(device):
        reference = _loss(model, data, amp=True).item()
    with _one_process_group(device):
        strategy = FSDP2Strategy(mixed_precision='bfloat16')
        sharded = strategy._wrap_model(model)
        optim = torch.optim.AdamW(sharded.parameters(), lr=1e-5)
        losses = []

        def step():
            loss = _loss(sharded, data, amp=False)  # FSDP casts the parameters itself
            losses.append(loss.detach().item())
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()

        t = time_it(step, max(1, args.reps // 2))
        out['fsdp'] = dict(step_s=round(t, 4), step_peak_mem_mb=_peak_mb(device, step),
                           first_loss=round(losses[0], 5), unsharded_bf16_loss=round(reference, 5),
                           ok=bool(math.isfinite(losses[0])
                                   and abs(losses[0] - reference) <= LOSS_RTOL * abs(reference)))


def check_bf16(args, tokfile, device, out):
    """Loss and gradient of one batch in fp32 and in bf16 autocast, same weights."""
    import torch

    from locca_mm.cli.bench.common import batch_for, build, to_device
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    with torch.no_grad():  # the zero-initialised logit layer would make every gradient trivial
        torch.nn.init.normal_(model.head.decoder.logit_layer.weight, std=0.02)
    img = model.backbone.img_size[0]
    data = to_device(batch_for(model, min(args.batch, 16), img), device)
    results = {}
    for name, amp in (('fp32', False), ('bf16', True)):
        model.zero_grad(set_to_none=True)
        loss = _loss(model, data, amp)
        loss.backward()
        grad = torch.cat([p.grad.float().flatten() for p in model.parameters()
                          if p.grad is not None])
        results[name] = (loss.detach().item(), grad)
    (l32, g32), (l16, g16) = results['fp32'], results['bf16']
    rel = abs(l16 - l32) / abs(l32)
    cosine = float(torch.nn.functional.cosine_similarity(g32, g16, dim=0))
    out['bf16_vs_fp32'] = dict(loss_fp32=round(l32, 5), loss_bf16=round(l16, 5),
                               loss_rel_diff=round(rel, 5), grad_cosine=round(cosine, 5),
                               loss_rtol=LOSS_RTOL, grad_cosine_min=GRAD_COSINE_MIN,
                               ok=bool(rel <= LOSS_RTOL and cosine >= GRAD_COSINE_MIN))


CHECKS = dict(train=check_train, decode=check_decode, fsdp=check_fsdp, bf16=check_bf16)


def main(argv=None):
    args = parse_args(argv)
    import torch
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f'gpu_check: error: no CUDA GPU is visible to torch {torch.__version__} '
              f'(CUDA build: {torch.version.cuda or "none"}); this check measures the GPU '
              'path: run it on a machine with one', file=sys.stderr)
        return 2
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    args.batch = args.batch or (2 if args.quick else 64)
    args.reps = args.reps or (1 if args.quick else 5)
    args.amp = device.type == 'cuda'  # bf16 autocast on the GPU, as the other checks
    from locca_mm.cli.bench.common import word_tokenizer_file
    out = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu',
               torch=torch.__version__, cuda=torch.version.cuda, batch=args.batch,
               reps=args.reps, quick=args.quick, precision='bf16 autocast')
    start_all = time.time()
    with tempfile.TemporaryDirectory() as root:
        tokfile = word_tokenizer_file(root, 1000 if args.quick else 32000)
        for name, check in CHECKS.items():
            start = time.time()
            try:
                check(args, tokfile, device, out)
            except Exception as e:  # noqa: BLE001 - one failed check keeps the others
                out.setdefault('errors', {})[name] = f'{type(e).__name__}: {e}'
            if device.type == 'cuda':
                torch.cuda.empty_cache()
            print(f'[gpu_check] {name}: {time.time() - start:.0f} s', file=sys.stderr, flush=True)
    out['wall_s'] = round(time.time() - start_all, 1)
    out['ok'] = not out.get('errors') and all(
        out.get(k, {}).get('ok', False) for k in ('fsdp', 'bf16_vs_fp32'))
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0 if out['ok'] else 1


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    sys.exit(main())
