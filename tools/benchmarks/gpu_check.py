"""One command for a machine with a CUDA GPU: is locca_mm fast and right there? Prints one JSON.

    python tools/benchmarks/gpu_check.py [--batch N] [--max-batch 512] [--reps 5]

Measured in one run, on the GPU, in bfloat16 autocast (the precision ViT-B is trained in),
with a 32k-word synthetic vocabulary and 64-token captions:

- ``train``: the largest per-GPU batch of ``--max-batch``, half of it, ... whose LocCa-B
  step runs (at least 256, with activation checkpointing of the encoder if none fits
  without it; ``--batch`` fixes it); at that batch, LocCa-B and Cap-B
  (``configs/locca/locca_vit-b16_256xb32-1100k_webli.py``,
  ``configs/cap/cap_vit-b16_256xb32-1100k_webli.py``) each in two setups: ``eager`` (the
  dynamic row layout, foreach AdamW) and ``compiled`` (``head.static_shapes``,
  ``model.loss`` compiled into one graph as ``CompileLossHook`` does, fused AdamW), the four
  steps timed in alternation: ``train_step_s``, ``locca_over_cap``, ``compiled_speedup``,
  ``step_peak_mem_mb`` (peak above the resident weights, gradients and optimizer state),
  ``mfu`` / ``achieved_tflops`` from the FLOPs ``torch.utils.flop_counter`` counts on the
  dynamic layout (x3 for forward + backward: padding is not counted as work) and the GPU's
  dense bf16 peak, ``compile_first_call_s``, and the compiled LocCa step's top GPU ops
  (``profile_top_locca_compiled``: name, ms, calls, %);
- ``decode``: greedy decoding of 64 new tokens at batch 8 and 64, uncached and with each
  KV cache (``dynamic``, ``static``, ``compiled``: CUDA graphs): seconds, new tokens/s,
  speed over uncached;
- ``open_clip``: open_clip's CoCa at our CoCa's size, training step and generation
  against ours (``vs_open_clip_coca_*`` > 1: ours is faster);
- ``fsdp``: one training step of LocCa-B sharded by ``FSDP2Strategy`` (bf16 parameters,
  fp32 reduction) in a one-process NCCL group, and its loss against the unsharded model's;
- ``bf16_vs_fp32``: the same batch through the same weights in fp32 and in bf16 autocast: the
  relative difference of the loss and the cosine similarity of the whole gradient, with the
  tolerances they are held to (``ok``).

``goals`` then lists every speed goal (``locca_mm.cli.bench.gpu_goals.GOALS``) with its
measured value, its target and ``ok``; ``ok`` is null where the run does not judge them (a
CPU or ``--quick`` run) or the check behind the value failed (``errors``). The exit status
is 0 when nothing failed and the correctness checks (fsdp, bf16) hold.

It needs torch with CUDA and the pure-Python part of the stack (mmengine, mmcv built without
ops, mmpretrain, tokenizers), so it also runs from an offline wheelhouse (docs/en/get_started.md,
"Installation"). It takes a few minutes on one H100. On a machine without a CUDA GPU it
refuses (exit 2); ``--allow-cpu --quick`` runs the same code on tiny models on the CPU,
which is what the test suite does.
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
# The models of the training check (configs/<name>.py).
TRAIN_MODELS = dict(cap='cap/cap_vit-b16_256xb32-1100k_webli',
                    locca='locca/locca_vit-b16_256xb32-1100k_webli')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=int, default=None,
                        help='images per training step (default: the largest that fits; '
                        '2 with --quick)')
    parser.add_argument('--max-batch', type=int, default=512,
                        help='the first batch tried when fitting (default 512)')
    parser.add_argument('--reps', type=int, default=None, help='timed repetitions (default 5)')
    parser.add_argument('--quick', action='store_true', help='tiny models (seconds)')
    parser.add_argument('--allow-cpu', action='store_true',
                        help='run on the CPU when there is no GPU (with --quick, for tests)')
    parser.add_argument('--checks', nargs='+', choices=list(CHECKS), default=list(CHECKS),
                        help='the checks to run (default: all)')
    parser.add_argument('--compile-backend', default='inductor',
                        help="torch.compile backend of the compiled step (default inductor; "
                        "'eager' checks the plumbing fast)")
    parser.add_argument('--no-profile', dest='profile', action='store_false',
                        help='leave out the compiled step\'s top GPU ops')
    return parser.parse_args(argv)


def _loss(model, data, amp):
    from locca_mm.cli.bench.common import autocast
    with autocast(amp, data['inputs'].device):
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
    """LocCa-B and Cap-B steps side by side at one batch, eager (the dynamic row layout, as
    ``benchmark.py``) and compiled (the static layout, ``model.loss`` compiled, fused AdamW):
    the batch that fits, time, memory, FLOPs, MFU, and the compiled LocCa step's top ops."""
    from locca_mm.cli.bench.common import batch_for, build, to_device, train_step
    from locca_mm.cli.bench.gpu_goals import fit_batch
    models = {f'{k}_{how}': build(cfg, tokfile, args.quick).to(device)
              for how in ('eager', 'compiled') for k, cfg in TRAIN_MODELS.items()}
    img = models['locca_eager'].backbone.img_size[0]

    def step_for(batch, with_cp):
        for m in models.values():
            m.backbone.with_cp = with_cp
        return train_step(models['locca_eager'],
                          to_device(batch_for(models['locca_eager'], batch, img), device), True)

    fit = dict(batch=args.batch, activation_checkpointing=False, tried=[])
    if args.batch is None:
        fit = fit_batch(step_for, device, args.max_batch)
    for m in models.values():
        m.backbone.with_cp = fit['activation_checkpointing']
    args.batch = fit['batch']
    out['train'] = fit
    data = {k: to_device(batch_for(m, args.batch, img), device) for k, m in models.items()}
    _time_train(args, device, models, data, out)


def _time_train(args, device, models, data, out):
    """The four steps timed in alternation, after the compiled ones compiled; MFU from the
    FLOPs of the dynamic layout (the useful work: padding not counted)."""
    import torch

    from locca_mm.cli.bench.common import (
        PEAK_TFLOPS,
        autocast,
        compiled_train_step,
        forward_flops,
        profile_top,
        sync,
        time_each,
        train_step,
    )
    steps = {k: (compiled_train_step(m, data[k], True, args.compile_backend)
                 if k.endswith('compiled') else train_step(m, data[k], True))
             for k, m in models.items()}
    out['compile_first_call_s'] = {}
    for k in ('cap_compiled', 'locca_compiled'):  # compiles (not part of the timing)
        start = time.perf_counter()
        steps[k]()
        sync()
        out['compile_first_call_s'][k] = round(time.perf_counter() - start, 1)
    times = dict(zip(steps, time_each(list(steps.values()), args.reps)))
    out['train_step_s'] = {k: round(t, 4) for k, t in times.items()}
    out['locca_over_cap'] = {how: round(times[f'locca_{how}'] / times[f'cap_{how}'], 3)
                             for how in ('eager', 'compiled')}
    out['compiled_speedup'] = {k: round(times[f'{k}_eager'] / times[f'{k}_compiled'], 3)
                               for k in TRAIN_MODELS}
    out['step_peak_mem_mb'] = {k: _peak_mb(device, steps[k]) for k in steps}
    peak = next((v for k, v in PEAK_TFLOPS.items()
                 if device.type == 'cuda' and k in torch.cuda.get_device_name()), None)
    out['peak_bf16_tflops'] = peak
    out['achieved_tflops'], out['mfu'] = {}, {}
    for k in TRAIN_MODELS:
        with autocast(True, device):
            flops = 3 * forward_flops(models[f'{k}_eager'], data[f'{k}_eager'])
        for how in ('eager', 'compiled'):
            t = times[f'{k}_{how}']
            out['achieved_tflops'][f'{k}_{how}'] = round(flops / t / 1e12, 2)
            out['mfu'][f'{k}_{how}'] = round(flops / t / (peak * 1e12), 3) if peak else None
    if args.profile:
        out['profile_top_locca_compiled'] = profile_top(steps['locca_compiled'])
    out['train_text_lengths'] = {k: int(v.tokens.shape[1])
                                 for k, v in data['locca_eager']['task_batches'].items()}


def check_decode(args, tokfile, device, out):
    """Greedy decoding of 64 tokens at batch 8 and 64 (2 with ``--quick``): uncached, and
    the dynamic, static and compiled (CUDA graphs) KV caches."""
    from locca_mm.cli.bench.common import decoding_model
    from locca_mm.cli.bench.gpu_goals import decode_rates
    model = decoding_model(tokfile, args.quick, device)
    out['decode'] = {f'b{n}': decode_rates(model, n, 64, args.amp, max(3, args.reps))
                     for n in ((2, ) if args.quick else (8, 64))}


def check_open_clip(args, tokfile, device, out):
    """open_clip's CoCa against ours at matched size: training step and generation."""
    from locca_mm.cli.bench.open_clip_coca import bench_open_clip
    bench_open_clip(args, tokfile, device, out)


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

    from locca_mm.cli.bench.common import autocast, batch_for, build, time_it, to_device
    from locca_mm.engine.strategies.fsdp2 import FSDP2Strategy
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    img = model.backbone.img_size[0]
    data = to_device(batch_for(model, min(args.batch, 64), img), device)
    with torch.no_grad(), autocast(True, device):
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


CHECKS = dict(train=check_train, decode=check_decode, open_clip=check_open_clip,
              fsdp=check_fsdp, bf16=check_bf16)


def main(argv=None):
    args = parse_args(argv)
    import torch
    if not torch.cuda.is_available() and not args.allow_cpu:
        print(f'gpu_check: error: no CUDA GPU is visible to torch {torch.__version__} '
              f'(CUDA build: {torch.version.cuda or "none"}); this check measures the GPU '
              'path: run it on a machine with one', file=sys.stderr)
        return 2
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if args.quick or 'train' not in args.checks:  # else the training check fits it
        args.batch = args.batch or (2 if args.quick else 64)
    args.reps = args.reps or (1 if args.quick else 5)
    args.amp = device.type == 'cuda'  # bf16 autocast on the GPU, as the other checks
    args.profile = args.profile and device.type == 'cuda'
    torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast
    from locca_mm.cli.bench.common import word_tokenizer_file
    from locca_mm.cli.bench.gpu_goals import goals_report
    out = dict(device=torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu',
               torch=torch.__version__, cuda=torch.version.cuda, reps=args.reps,
               quick=args.quick, precision='bf16 autocast, TF32 matmuls')
    start_all = time.time()
    with tempfile.TemporaryDirectory() as root:
        tokfile = word_tokenizer_file(root, 1000 if args.quick else 32000)
        for name in args.checks:
            start = time.time()
            try:  # stdout carries the JSON alone: logs of the checks go to stderr
                with contextlib.redirect_stdout(sys.stderr):
                    CHECKS[name](args, tokfile, device, out)
            except Exception as e:  # noqa: BLE001 - one failed check keeps the others
                out.setdefault('errors', {})[name] = f'{type(e).__name__}: {e}'
            if args.batch is None:  # the fit failed: the others at the former default
                args.batch = 64
            if device.type == 'cuda':
                torch.cuda.empty_cache()
            print(f'[gpu_check] {name}: {time.time() - start:.0f} s', file=sys.stderr, flush=True)
    out['batch'] = args.batch
    out['wall_s'] = round(time.time() - start_all, 1)
    judged = device.type == 'cuda' and not args.quick
    out['goals'] = goals_report(out, judged, '' if judged else
                                'not judged: the goals are for ViT-B/16 on one H100 / H200; '
                                'this run is ' + ('--quick' if args.quick else 'on a CPU'))
    out['ok'] = not out.get('errors') and all(
        out.get(k, {}).get('ok', False) for k in ('fsdp', 'bf16_vs_fp32')
        if k.split('_')[0] in args.checks)
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0 if out['ok'] else 1


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    sys.exit(main())
