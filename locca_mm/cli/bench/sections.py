"""The sections of ``tools/benchmarks/benchmark.py`` on LocCa's own models: the training
step of Cap and LocCa (:func:`bench_train`), decoding with and without the KV cache
(:func:`bench_decode`, also ``tools/benchmarks/gpu_check.py``'s), REC evaluation with images
encoded once (:func:`bench_rec`), MFU (:func:`bench_mfu`), ``torch.compile``
(:func:`bench_compile`) and the cost of validation while pretraining (:func:`bench_val`).
Each writes its figures into ``out``.
"""
import os.path as osp
import resource
import time

from .common import (
    PEAK_TFLOPS,
    ROOT,
    autocast,
    batch_for,
    build,
    compiled_train_step,
    decoding_model,
    encoder_flops,
    forward_flops,
    profile_top,
    sync,
    time_each,
    time_it,
    to_device,
    train_step,
)


def bench_train(args, tokfile, device, out):
    """One optimisation step of Cap and LocCa (ViT-B, or tiny with ``--quick``) timed in
    alternation; peak memory; forward FLOPs per image, also of LocCa's counterfactuals."""
    import torch
    cap = build('cap/cap_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    locca = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    img = locca.backbone.img_size[0]
    n = args.batch
    cap_data = to_device(batch_for(cap, n, img), device)
    locca_data = to_device(batch_for(locca, n, img), device)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t_cap, t_locca = time_each([train_step(cap, cap_data, args.amp),
                                train_step(locca, locca_data, args.amp)], args.reps)
    out['train_step_s'] = dict(cap=round(t_cap, 4), locca=round(t_locca, 4))
    out['locca_over_cap'] = round(t_locca / t_cap, 3)
    out['peak_mem_mb'] = round(torch.cuda.max_memory_allocated() / 2**20, 1) \
        if torch.cuda.is_available() else \
        round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    padded = to_device(batch_for(locca, n, img, pad_regions_to=cap_data['task_batches']['cap']
                                 .tokens.shape[1]), device)
    flops = dict(cap=forward_flops(cap, cap_data), locca=forward_flops(locca, locca_data),
                 locca_regions_padded_to_caption=forward_flops(locca, padded),
                 locca_kv_per_task=forward_flops(locca, locca_data, per_task_kv=True))
    flops['encoder'] = encoder_flops(locca, locca_data)
    out['forward_gflops_per_image'] = {k: round(v / n / 1e9, 2) for k, v in flops.items()}
    out['forward_flops_over_cap'] = {k: round(v / flops['cap'], 3) for k, v in flops.items()
                                     if k.startswith('locca')}
    out['text_lengths'] = {k: int(v.tokens.shape[1]) for k, v in locca_data['task_batches'].items()}
    if getattr(args, 'profile', False):
        out['profile_top'] = dict(cap=profile_top(train_step(cap, cap_data, args.amp)),
                                  locca=profile_top(train_step(locca, locca_data, args.amp)))


def bench_decode(args, tokfile, device, out):
    """Greedy decoding of 64 new tokens with the (dynamic) KV cache and without (the visual
    memory computed once, before the timed loop: the cache concerns the decoder)."""
    from .gpu_goals import decode_rates
    new = 64
    rates = decode_rates(decoding_model(tokfile, args.quick, device), min(args.batch, 8), new,
                         args.amp, max(1, args.reps // 2), layouts=('dynamic', ))
    out['decode_encode_s'] = rates['encode_s']
    out['decode_tokens_per_s'] = dict(cached=rates['tokens_per_s_each']['dynamic'],
                                      uncached=rates['tokens_per_s_each']['uncached'])
    out['kv_cache_speedup'] = rates['speedup_each']['dynamic']
    out['decode_new_tokens'] = new


def bench_rec(args, tokfile, device, out):
    """REC evaluation with each image encoded once vs. once per expression (3 an image)."""
    import torch

    from locca_mm.structures import LocCaDataSample
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device).eval()
    img = model.backbone.img_size[0]
    images, per = max(2, args.batch // 2), 3

    def samples(shared: bool):
        out_ = []
        for i in range(images * per):
            ds = LocCaDataSample(metainfo=dict(
                img_shape=(img, img), img_path=f'{i // per if shared else i}.jpg'))
            ds.task, ds.prompt_text = 'ref', f'w{i} w{i + 1} w{i + 2}'
            out_.append(ds)
        return out_

    x = torch.randn(images, 3, img, img, device=device).repeat_interleave(per, 0)
    def predict(shared):
        with torch.no_grad(), autocast(args.amp, device):
            model.predict(x, samples(shared))

    t_once, t_per_expr = time_each([lambda: predict(True), lambda: predict(False)], args.reps)
    out['rec_eval_images_per_s'] = dict(encode_once=round(images / t_once, 2),
                                        per_expression=round(images / t_per_expr, 2))
    out['rec_expressions_per_image'] = per


def bench_mfu(args, tokfile, out):
    """Model FLOPs utilisation of the LocCa step in bfloat16 (CUDA only)."""
    import torch
    if not torch.cuda.is_available():
        return
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).cuda()
    img = model.backbone.img_size[0]
    data = to_device(batch_for(model, args.batch, img), torch.device('cuda'))
    flops = 3 * forward_flops(model, data)  # forward + backward ~ 3x forward
    t = time_it(train_step(model, data, amp=True), args.reps)
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    out['bf16_train_step_s'] = round(t, 4)
    out['achieved_tflops'] = round(flops / t / 1e12, 1)
    if peak:
        out['mfu'] = round(flops / t / (peak * 1e12), 3)
    out['gpu'] = name


def bench_compile(args, tokfile, device, out):
    """The LocCa step eager (dynamic layout) and compiled (static layout, ``model.loss``
    in one graph: :func:`~.common.compiled_train_step`), side by side."""
    config = 'locca/locca_vit-b16_256xb32-1100k_webli'
    model = build(config, tokfile, args.quick).to(device)
    data = to_device(batch_for(model, args.batch, model.backbone.img_size[0]), device)
    eager = train_step(model, data, args.amp)
    compiled = compiled_train_step(build(config, tokfile, args.quick).to(device), data,
                                   args.amp)
    start = time.perf_counter()
    compiled()
    sync()
    first = time.perf_counter() - start
    t_eager, t_compiled = time_each([eager, compiled], args.reps)
    out['compile'] = dict(eager_step_s=round(t_eager, 4), compiled_step_s=round(t_compiled, 4),
                          speedup=round(t_eager / t_compiled, 3), first_call_s=round(first, 1))


def bench_val(args, root: str, out: dict) -> None:
    """The cost of validation while pretraining: one validation pass of ``--val-config``
    against ``val_interval`` training steps, timed side by side in one runner."""
    import torch
    from mmengine.hooks import Hook

    from ..common import build_runner, load_config
    cfg = load_config(osp.join(ROOT, args.val_config))
    interval = cfg.train_cfg.val_interval
    warm, timed = (1, 2) if args.quick else (5, 40)
    cfg.work_dir = osp.join(root, 'val_cost')
    cfg.train_cfg.update(max_iters=warm + timed, val_interval=10**9)
    cfg.param_scheduler = None  # a constant lr: the step's cost does not depend on it
    if args.amp:
        cfg.optim_wrapper.update(type='AutocastOptimWrapper', dtype='bfloat16')
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    if args.quick:
        cfg.train_dataloader.batch_size = 2
        for d in cfg.val_dataloader.dataset.get('datasets', [cfg.val_dataloader.dataset]):
            d.num_samples = 4
    stamps = {}

    class Stamp(Hook):

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == warm:
                stamps['start'] = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            stamps['end'] = time.perf_counter()

    runner = build_runner(cfg)
    runner.register_hook(Stamp(), 'LOWEST')
    runner.train()
    step = (stamps['end'] - stamps['start']) / timed
    start = time.perf_counter()
    with autocast(args.amp, torch.device('cuda' if torch.cuda.is_available() else 'cpu')):
        metrics = runner.val()
    val = time.perf_counter() - start
    out['validation'] = dict(
        config=args.val_config, val_interval=interval, train_step_s=round(step, 4),
        val_pass_s=round(val, 3), val_samples=len(runner.val_dataloader.dataset),
        cost_fraction=round(val / (interval * step), 4), metrics=sorted(metrics))
