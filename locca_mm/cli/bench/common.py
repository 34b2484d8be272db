"""What every measurement of ``tools/benchmarks/benchmark.py`` and
``tools/benchmarks/gpu_check.py`` is made of: the project's models with a synthetic
vocabulary (:func:`word_tokenizer_file`, :func:`build`), batches for them (:func:`batch_for`,
:func:`to_device`), training steps (:func:`train_step`, eager; :func:`compiled_train_step`,
the static layout compiled), timing in alternation
(:func:`time_each`, :func:`time_it`), FLOP counts (:func:`forward_flops`,
:func:`encoder_flops`), the operators with the most time (:func:`profile_top`) and the
precision the run measures in (:func:`precision_info`, :func:`autocast`).
"""
import contextlib
import os.path as osp
import random
import sys
import time

from ..common import SOURCE_ROOT as ROOT

EXTRA_WORDS = ['Cap', 'ARef', 'GCap', ':', '[UNK]', '[PAD]', '[BOS]', '[EOS]', '[MASK]']
# Dense bf16 peak of the accelerators this project is measured on (TFLOP/s).
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0}


def word_tokenizer_file(root: str, vocab: int) -> str:
    """A ``tokenizer.json`` with ``vocab`` whole-word tokens (w0, w1, ...) and specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    words = {f'w{i}': i for i in range(vocab - len(EXTRA_WORDS))}
    words.update({w: len(words) + j for j, w in enumerate(EXTRA_WORDS)})
    tok = Tokenizer(models.WordLevel(words, unk_token='[UNK]'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = osp.join(root, 'words.json')
    tok.save(path)
    return path


def build(config: str, tokenizer_file: str, quick: bool):
    """The model of ``configs/<config>.py`` with the synthetic vocabulary (tiny if quick)."""
    import torch
    from mmengine.config import Config

    from locca_mm.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{config}.py')).model
    cfg.tokenizer.text_tokenizer = dict(type='HFTokenizer', tokenizer_file=tokenizer_file)
    # Room for a prompt and 64 generated tokens (the position table only grows).
    for part in ('head', 'contrastive_head'):
        if cfg.get(part) and cfg[part].get('decoder'):
            cfg[part].decoder.max_len = 80
    if quick:
        cfg.backbone.update(arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                                      feedforward_channels=128), img_size=64)
        if cfg.get('head'):  # the decoder as the tiny encoder's: its width and heads, half depth
            cfg.head.decoder.update(embed_dims=64, num_heads=2, num_layers=1)
        if cfg.get('head') and cfg.head.get('memory_pool'):
            cfg.head.memory_pool = dict(num_queries=16, num_heads=2)
        if cfg.get('head') and cfg.head.decoder.get('num_unimodal_layers'):
            cfg.head.decoder.update(num_layers=2, num_unimodal_layers=1)
        if cfg.get('contrastive_head'):
            cfg.contrastive_head.num_heads = 2
    torch.manual_seed(0)
    return MODELS.build(cfg)


def batch_for(model, n: int, img: int, region_words: int = 8, cap_words: int = 62,
              pad_regions_to: int = 0):
    """A preprocessed batch: ``cap_words``-word captions, ``region_words``-word region rows."""
    import torch

    from locca_mm.structures import LocCaDataSample, TaskBatch
    tok = model.tokenizer
    vocab = tok.text_tokenizer.loc_offset - len(EXTRA_WORDS)
    rng = random.Random(0)
    samples = []
    for _ in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(img, img)))
        words = ' '.join(f'w{rng.randrange(vocab)}' for _ in range(cap_words))
        seqs = dict(cap=tok.build('cap', text=words))
        region = ' '.join(f'w{rng.randrange(vocab)}' for _ in range(region_words))
        box = torch.tensor([10., 20., img * 0.6, img * 0.8])
        seqs['aref'] = tok.build('aref', text=region, box=box, img_shape=(img, img))
        seqs['gcap'] = tok.build('gcap', text=region, box=box, img_shape=(img, img))
        ds.task_sequences = seqs
        samples.append(ds)
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, img, img), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples), True)
    if pad_regions_to:
        for task in ('aref', 'gcap'):
            if task in data['task_batches']:
                b = data['task_batches'][task]
                tokens = torch.full((b.num_rows, pad_regions_to), tok.text_tokenizer.pad_id,
                                    dtype=torch.long)
                tokens[:, :b.tokens.shape[1]] = b.tokens
                data['task_batches'][task] = TaskBatch(tokens, b.prefix_len, b.rows)
    return data


def autocast(amp: bool, device):
    """The precision context of a timed call: bfloat16 autocast when ``amp``."""
    import torch
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else \
        contextlib.nullcontext()


def sync():
    """Wait for the GPU's queued work (nothing on a CPU)."""
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_each(fns, reps: int):
    """Median seconds of each of ``fns``, their calls interleaved (a, b, a, b, ...).

    A ratio of two is then measured under the same conditions: a change of
    machine load during the run falls on both sides alike. One warm-up call
    each comes first.
    """
    for fn in fns:
        fn()
    sync()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - start)
    return tuple(sorted(t)[len(t) // 2] for t in times)


def time_it(fn, reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    return time_each([fn], reps)[0]


def to_device(data, device):
    """A preprocessed batch (its images and task batches) moved to ``device``."""
    data['inputs'] = data['inputs'].to(device)
    if data.get('task_batches'):
        import locca_mm.structures as S
        data['task_batches'] = {k: S.TaskBatch(v.tokens.to(device), v.prefix_len.to(device),
                                               None if v.rows is None else v.rows.to(device))
                                for k, v in data['task_batches'].items()}
    return data


def train_step(model, data, amp=False, fused=False):
    """One optimisation step of ``model`` on ``data`` (forward, backward, AdamW), as a
    function of no arguments (``amp``: bfloat16 autocast; ``fused``: AdamW's fused
    kernel)."""
    import torch
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5,
                              fused=fused)
    device = data['inputs'].device

    def step():
        with autocast(amp, device):
            losses = model(**data, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    return step


def compiled_train_step(model, data, amp=False, backend: str = 'inductor'):
    """The fast training step: the static row layout (``head.static_shapes``), ``model.loss``
    compiled into one graph (``fullgraph``; as :class:`~locca_mm.engine.CompileLossHook`
    does), AdamW fused into one kernel on a GPU. Sets the layout on ``model``: build a
    second model for the eager step."""
    import torch
    if model.head is not None:
        model.head.static_shapes = True
    model.loss = torch.compile(model.loss, fullgraph=True, dynamic=False, backend=backend)
    return train_step(model, data, amp, fused=data['inputs'].device.type == 'cuda')


def decoding_model(tokenizer_file: str, quick: bool, device):
    """The LocCa-B decoder (tiny if ``quick``) in eval mode on ``device``, its zero-initialised
    logit layer drawn from N(0, 0.02) so that decoding picks varied tokens."""
    import torch
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokenizer_file, quick)
    model = model.to(device).eval()
    with torch.no_grad():
        for p in model.head.decoder.logit_layer.parameters():
            torch.nn.init.normal_(p, std=0.02)
    return model


def forward_flops(model, data, per_task_kv: bool = False) -> float:
    """Forward FLOPs of a loss computation (``per_task_kv``: project K/V for each task)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    head = model.head
    original = head.project_memory
    if per_task_kv:
        tasks = len([t for t in head.tasks if t in data['task_batches']])
        # Counterfactual: every task row projects the visual K/V itself.
        def project(visual):
            for _ in range(tasks - 1):
                original(visual)
            return original(visual)
        head.project_memory = project
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(**data, mode='loss')
    finally:
        head.project_memory = original
    return counter.get_total_flops()


def encoder_flops(model, data) -> float:
    """Forward FLOPs of the encoder alone on ``data``'s images."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.extract_feat(data['inputs'])
    return counter.get_total_flops()


def profile_top(step, rows: int = 12) -> list:
    """The operators of one call of ``step`` with the most self time: [name, ms, calls]."""
    import torch
    step()  # warm
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        step()
        sync()
    key = 'self_device_time_total' if torch.cuda.is_available() else 'self_cpu_time_total'
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events) or 1
    return [[e.key, round(getattr(e, key) / 1e3, 2), e.count,
             round(100 * getattr(e, key) / total, 1)] for e in events[:rows]]


def precision_info(args, device) -> dict:
    """Resolve ``--precision`` (sets ``args.amp``); what the JSON says about it."""
    from locca_mm.utils.precision import cpu_bf16_isa, onednn_isa, resolve_precision
    precision, why = resolve_precision(args.precision, device)
    args.amp = precision == 'bf16'
    print(f'[benchmark] precision: {why}', file=sys.stderr, flush=True)
    info = dict(precision=precision, precision_reason=why)
    if device.type == 'cpu':
        info.update(cpu_bf16_isa=cpu_bf16_isa(), onednn_isa=onednn_isa())
    return info
