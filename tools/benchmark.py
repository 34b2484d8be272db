"""Measure locca_mm side by side and print one JSON object.

    python tools/benchmark.py [--quick] [--batch 8] [--compare-open-clip] [--sections ...]
                              [--precision {auto,bf16,fp32}]

Every figure comes from this run, on this machine (CUDA when present, else
CPU); the two sides of every ratio are timed in alternation (median of
``--reps``). ``--precision`` (default ``auto``: bfloat16 where the device has
it natively, see :mod:`locca_mm.utils.precision`) is the precision of every
section: bf16 runs each forward under ``torch.autocast(..., bfloat16)`` (weights
and optimizer in float32, as mixed-precision training does), open_clip's side
too; the JSON records ``precision``, why, and on a CPU its bf16 ISA and the
one oneDNN dispatches to. Models are built from the project's configs with a synthetic 32k-word
vocabulary (``--quick``: the tiny encoder and a small vocabulary):

- ``train_step_s``: one optimisation step (forward, backward, AdamW) of Cap and
  LocCa at the same encoder, batch and text lengths (64 caption tokens, region
  rows as long as their content, ~16), and ``locca_over_cap``;
  ``forward_gflops_per_image`` (counted with ``torch.utils.flop_counter``) for
  Cap, LocCa, and LocCa as it would be with region rows padded to the caption
  length or the visual K/V re-projected for every task;
- ``decode_tokens_per_s`` with and without the KV cache, ``kv_cache_speedup``
  (64 new tokens, greedy; the decoding loop only: the visual memory is computed
  once before, its time is ``decode_encode_s``);
- ``rec_eval_images_per_s`` for REC evaluation with each image encoded once
  vs. once per expression (3 expressions an image);
- ``peak_mem_mb`` (CUDA: max allocated during the LocCa step; CPU: peak RSS);
- ``samples_per_s_per_worker`` of the data pipeline;
- ``--compare-open-clip``: open_clip's CoCa built at our CoCa's size (ViT-B/16,
  6 unimodal + 6 multimodal decoder layers of width 768, 256-query attentional
  pooler, same vocabulary, batch and text length): ``vs_open_clip_coca_train``
  and ``vs_open_clip_coca_generate`` (their time / ours; 64 new tokens, greedy,
  end to end: encoding the images included on both sides);
- on CUDA, ``mfu`` of the ViT-B LocCa step in bfloat16;
- ``--profile`` (with the train section): ``profile_top``, the operators with
  the most self time in one Cap and one LocCa step: [name, ms, calls, %];
- ``--sections val`` (only when named): ``validation.cost_fraction``, the time
  of one validation pass of a pretraining config (``--val-config``; the demo's
  tiny LocCa by default) over ``val_interval`` training steps of it, both timed
  in one runner (steps after 5 warm-up ones).
- ``--sections transfer`` (only when named): ``maskrcnn_vit_b_step_s``, one
  training step (forward, backward, AdamW with layer decay) of
  ``configs/mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py`` on
  1024 x 1024 inputs with 8 objects an image (``--transfer-batch`` images; 1 on
  CPU, 4 on CUDA as in ViTDet); float32 on a CPU in any ``--precision``
  (mmcv's CPU RoIAlign has no bfloat16 kernel): ``maskrcnn_precision``.
- ``--sections compile`` (only when named): ``compile``, the LocCa ViT-B
  training step eager and under ``torch.compile`` (what ``--cfg-options
  compile=True`` does to a run), the first compiled call's seconds and the
  speed-up, in the chosen precision.
- ``--sections pseudo_label`` (only when named): ``pseudo_label``, images/s of
  ``tools/pseudo_label.py --out-dir`` per process with a tiny and an OWL-ViT
  B/32-sized random detector, and an estimate of the GPU-days to label 1 B
  pairs with OWL-ViT B/16 at 768 px (``tools/pseudo_label_benchmark.py``).
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import random
import resource
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SECTIONS = ('train', 'decode', 'rec', 'data', 'open_clip', 'mfu', 'transfer', 'val',
            'pseudo_label', 'compile')
OPT_IN = ('transfer', 'val', 'pseudo_label', 'compile')  # measured only when named in --sections
VAL_CONFIG = 'configs/locca/locca_vit-tiny_1xb48-800it_shapes.py'
COCA = 'coca/coca_vit-b16_256xb32-1100k_webli'  # the baseline compared with open_clip's
MASK_RCNN = 'configs/mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py'
EXTRA_WORDS = ['Cap', 'ARef', 'GCap', ':', '[UNK]', '[PAD]', '[BOS]', '[EOS]', '[MASK]']
# Dense bf16 peak of the accelerators this project is measured on (TFLOP/s).
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Measure locca_mm; prints one JSON object')
    parser.add_argument('--quick', action='store_true',
                        help='tiny models and few repetitions (seconds; for tests)')
    parser.add_argument('--batch', type=int, default=None,
                        help='images per step (default: 8 on CPU, 64 on CUDA, 2 quick)')
    parser.add_argument('--reps', type=int, default=None, help='timed repetitions')
    parser.add_argument('--compare-open-clip', action='store_true',
                        help='also time open_clip CoCa at our CoCa size')
    parser.add_argument('--precision', choices=['auto', 'bf16', 'fp32'], default='auto',
                        help='auto: bf16 where the device has it natively, else fp32')
    parser.add_argument('--profile', action='store_true',
                        help='with the train section: the top operators of one Cap and one '
                        'LocCa step (torch.profiler, self time) in the JSON')
    parser.add_argument('--data', action='store_true',
                        help='only the data pipeline (the same as --sections data)')
    parser.add_argument('--sections', nargs='+', choices=SECTIONS, default=None,
                        help='what to measure (default: all that apply, except transfer)')
    parser.add_argument('--val-config', default=VAL_CONFIG,
                        help='the pretraining config whose validation cost --sections val '
                             'measures')
    parser.add_argument('--transfer-batch', type=int, default=None,
                        help='images per Mask R-CNN step (default: 1 on CPU, 4 on CUDA)')
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- models
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


def _sync():
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
    _sync()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, times):
            start = time.perf_counter()
            fn()
            _sync()
            out.append(time.perf_counter() - start)
    return tuple(sorted(t)[len(t) // 2] for t in times)


def time_it(fn, reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up call."""
    return time_each([fn], reps)[0]


def to_device(data, device):
    data['inputs'] = data['inputs'].to(device)
    if data.get('task_batches'):
        import locca_mm.structures as S
        data['task_batches'] = {k: S.TaskBatch(v.tokens.to(device), v.prefix_len.to(device),
                                               None if v.rows is None else v.rows.to(device))
                                for k, v in data['task_batches'].items()}
    return data


def train_step(model, data, amp=False):
    import torch
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    device = data['inputs'].device

    def step():
        with autocast(amp, device):
            losses = model(**data, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    return step


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


# ----------------------------------------------------------------------------- sections
def bench_train(args, tokfile, device, out):
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
    flops['encoder'] = _encoder_flops(locca, locca_data)
    out['forward_gflops_per_image'] = {k: round(v / n / 1e9, 2) for k, v in flops.items()}
    out['forward_flops_over_cap'] = {k: round(v / flops['cap'], 3) for k, v in flops.items()
                                     if k.startswith('locca')}
    out['text_lengths'] = {k: int(v.tokens.shape[1]) for k, v in locca_data['task_batches'].items()}
    if getattr(args, 'profile', False):
        out['profile_top'] = dict(cap=profile_top(train_step(cap, cap_data, args.amp)),
                                  locca=profile_top(train_step(locca, locca_data, args.amp)))


def profile_top(step, rows: int = 12) -> list:
    """The operators of one call of ``step`` with the most self time: [name, ms, calls]."""
    import torch
    step()  # warm
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        step()
        _sync()
    key = 'self_device_time_total' if torch.cuda.is_available() else 'self_cpu_time_total'
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events) or 1
    return [[e.key, round(getattr(e, key) / 1e3, 2), e.count,
             round(100 * getattr(e, key) / total, 1)] for e in events[:rows]]


def bench_compile(args, tokfile, device, out):
    """The LocCa step eager and compiled (``torch.compile``), side by side."""
    import torch
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device)
    data = to_device(batch_for(model, args.batch, model.backbone.img_size[0]), device)
    eager = train_step(model, data, args.amp)
    compiled = train_step(torch.compile(model), data, args.amp)
    start = time.perf_counter()
    compiled()
    _sync()
    first = time.perf_counter() - start
    t_eager, t_compiled = time_each([eager, compiled], args.reps)
    out['compile'] = dict(eager_step_s=round(t_eager, 4), compiled_step_s=round(t_compiled, 4),
                          speedup=round(t_eager / t_compiled, 3), first_call_s=round(first, 1))


def _encoder_flops(model, data) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.extract_feat(data['inputs'])
    return counter.get_total_flops()


def bench_decode(args, tokfile, device, out):
    import torch

    from locca_mm.models.decoding import TextConstraint, generate
    model = build('locca/locca_vit-b16_256xb32-1100k_webli', tokfile, args.quick).to(device).eval()
    text = model.tokenizer.text_tokenizer
    with torch.no_grad():
        for p in model.head.decoder.logit_layer.parameters():  # non-trivial logits
            torch.nn.init.normal_(p, std=0.02)
    n, new = min(args.batch, 8), 64
    img = model.backbone.img_size[0]
    images = torch.randn(n, 3, img, img, device=device)
    constraint = TextConstraint(text.text_token_mask(), text.eos_id, min_tokens=new)
    prompt = [model.tokenizer.prompt('cap').to(device)] * n

    def encode():
        with torch.no_grad(), autocast(args.amp, device):
            return model.head.project_memory(model.extract_feat(images))

    # The images are encoded once, outside the timed decoding (the cache concerns the decoder).
    out['decode_encode_s'] = round(time_it(encode, 1), 4)
    memory = encode()

    def run(use_cache):
        with torch.no_grad(), autocast(args.amp, device):
            generate(model.head.decoder, memory, prompt, constraint, text.eos_id, new,
                     use_cache=use_cache)

    t_cached, t_uncached = time_each([lambda: run(True), lambda: run(False)],
                                     max(1, args.reps // 2))
    out['decode_tokens_per_s'] = dict(cached=round(n * new / t_cached, 1),
                                      uncached=round(n * new / t_uncached, 1))
    out['kv_cache_speedup'] = round(t_uncached / t_cached, 2)
    out['decode_new_tokens'] = new


def bench_rec(args, tokfile, device, out):
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


def bench_open_clip(args, tokfile, device, out):
    """open_clip CoCa at our CoCa's size: training step and 64-token greedy generation."""
    try:
        import open_clip  # noqa: F401
        from open_clip.coca_model import CoCa, MultimodalCfg  # noqa: F401
        from open_clip.loss import CoCaLoss  # noqa: F401
        from open_clip.model import CLIPTextCfg, CLIPVisionCfg  # noqa: F401
    except ImportError as e:
        out['open_clip'] = f'not installed ({e})'
        return
    length = 64
    ours = build(COCA, tokfile, args.quick).to(device)
    images = time_open_clip_train(args, ours, length, device, out)
    # Generation speed does not depend on the weights: time fresh models, so
    # neither side decodes with weights a few random training steps left.
    theirs = open_clip_coca(ours, length, device).eval()
    ours = build(COCA, tokfile, args.quick).to(device).eval()
    time_open_clip_generate(args, ours, theirs, images, out)
    out['open_clip_matched_size'] = matched_size(ours, length, args.batch)


def open_clip_coca(ours, length: int, device):
    """open_clip's CoCa built at the size of ``ours`` (our CoCa) for ``length``-token texts,
    its weights drawn after ``torch.manual_seed(0)``, on ``device``."""
    import torch
    from open_clip.coca_model import CoCa, MultimodalCfg
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg
    dec, vit = ours.head.decoder, ours.backbone.arch_settings
    vocab, heads = dec.vocab_size, dec.blocks[0].self_attn.num_heads
    torch.manual_seed(0)
    vision = CLIPVisionCfg(
        layers=vit['num_layers'], width=vit['embed_dims'],
        head_width=vit['embed_dims'] // vit['num_heads'],
        mlp_ratio=vit['feedforward_channels'] / vit['embed_dims'],
        patch_size=ours.backbone.patch_size, image_size=ours.backbone.img_size[0],
        attentional_pool=True, attn_pooler_queries=ours.head.memory_pool.query.shape[1],
        attn_pooler_heads=heads, output_tokens=True)
    text = CLIPTextCfg(context_length=length + 1, vocab_size=vocab, width=dec.embed_dims,
                       heads=heads, layers=dec.num_unimodal_layers, embed_cls=True,
                       output_tokens=True)
    multimodal = MultimodalCfg(context_length=length + 1, vocab_size=vocab,
                               width=dec.embed_dims, heads=heads,
                               layers=len(dec.blocks) - dec.num_unimodal_layers)
    model = CoCa(embed_dim=dec.embed_dims, vision_cfg=vision, text_cfg=text,
                 multimodal_cfg=multimodal)
    # open_clip 3.3 never initialises the multimodal decoder's output projection
    # (width x vocab, torch.empty; its init_parameters() is never called and would
    # fail): left as it is, it holds garbage that can be NaN or denormal (slow on CPUs).
    # Initialise it as that init_parameters() means to.
    torch.nn.init.normal_(model.text_decoder.text_projection, std=dec.embed_dims**-0.5)
    return model.to(device)


def time_open_clip_train(args, ours, length: int, device, out):
    """One training step of open_clip's CoCa against ours (same batch and text length);
    returns the batch's images, which the generation timing reuses."""
    import torch
    from open_clip.loss import CoCaLoss
    vocab = ours.head.decoder.vocab_size
    theirs = open_clip_coca(ours, length, device)
    n = args.batch
    img = ours.backbone.img_size[0]
    images = torch.randn(n, 3, img, img, generator=torch.Generator().manual_seed(0)).to(device)
    text = torch.randint(1, vocab - 10, (n, length + 1), device=device)
    loss_fn = CoCaLoss(caption_loss_weight=2.0, clip_loss_weight=1.0)
    optim = torch.optim.AdamW(theirs.parameters(), lr=1e-5)

    def their_step():
        with autocast(args.amp, device):
            out_ = theirs(images, text)
            loss = loss_fn(**out_)
            loss = sum(loss) if isinstance(loss, tuple) else loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()

    data = to_device(batch_for(ours, n, img, cap_words=length - 1), device)
    t_theirs, t_ours = time_each([their_step, train_step(ours, data, args.amp)], args.reps)
    out['open_clip_coca_train_step_s'] = round(t_theirs, 4)
    out['ours_coca_train_step_s'] = round(t_ours, 4)
    out['vs_open_clip_coca_train'] = round(t_theirs / t_ours, 3)
    return images


def time_open_clip_generate(args, ours, theirs, images, out):
    """64 new tokens, greedy, for every image, end to end (the images encoded inside the
    timed call) by open_clip's CoCa and by ours."""
    import torch

    from locca_mm.models.decoding import TextConstraint, generate
    vocab = ours.head.decoder.vocab_size
    new, eos, g = 64, vocab - 2, len(images)

    def their_generate():
        with torch.no_grad(), autocast(args.amp, images.device):
            theirs.generate(images, seq_len=new + 1, generation_type='top_k', top_k=1,
                            sot_token_id=vocab - 3, eos_token_id=eos, pad_token_id=0,
                            min_seq_len=new, fixed_output_length=True)

    text_tok = ours.tokenizer.text_tokenizer
    constraint = TextConstraint(text_tok.text_token_mask(), text_tok.eos_id, min_tokens=new)

    def our_generate():
        with torch.no_grad(), autocast(args.amp, images.device):
            memory = ours.head.project_memory(ours.extract_feat(images))
            prompts = [ours.tokenizer.prompt('cap').to(images.device)] * g
            generate(ours.head.decoder, memory, prompts, constraint, text_tok.eos_id, new)

    t_theirs, t_ours = time_each([their_generate, our_generate], max(1, args.reps // 2))
    out['open_clip_coca_generate_s'] = round(t_theirs, 4)
    out['ours_coca_generate_s'] = round(t_ours, 4)
    out['vs_open_clip_coca_generate'] = round(t_theirs / t_ours, 2)


def matched_size(ours, length: int, batch: int) -> dict:
    """What open_clip's CoCa was matched to: our CoCa's encoder, decoder and inputs."""
    dec, vit = ours.head.decoder, ours.backbone.arch_settings
    return dict(
        encoder=f"ViT ({vit['embed_dims']}x{vit['num_layers']}, patch "
                f"{ours.backbone.patch_size}, {ours.backbone.img_size[0]} px)",
        decoder=f'{dec.num_unimodal_layers} unimodal + '
                f'{len(dec.blocks) - dec.num_unimodal_layers} multimodal layers of width '
                f'{dec.embed_dims}', vocab=dec.vocab_size, text_len=length, batch=batch,
        pooler_queries=ours.head.memory_pool.query.shape[1])


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


def bench_transfer(args, device, out):
    """One Mask R-CNN (LocCaViT-B, SimpleFPN, ViTDet recipe) training step."""
    size = 128 if args.quick else 1024
    batch = args.transfer_batch or (4 if device.type == 'cuda' else 1)
    # mmcv's CPU RoIAlign / NMS kernels have no bfloat16 version: on a CPU the
    # detector step stays in float32 whatever --precision says (the JSON says so).
    amp = args.amp and device.type == 'cuda'
    out['maskrcnn_precision'] = 'bf16' if amp else 'fp32'
    model, wrapper = mask_rcnn(args.quick, size, device, amp)
    data = detection_batch(batch, size)
    model.train()
    t = time_it(lambda: model.train_step(dict(data), wrapper), args.reps)
    out['maskrcnn_vit_b_step_s'] = round(t, 3)
    out['maskrcnn_images_per_step'] = batch
    out['maskrcnn_input'] = f'{size}x{size}'


def mask_rcnn(quick: bool, size: int, device, amp: bool = False):
    """The Mask R-CNN of ``MASK_RCNN`` at ``size`` px (``quick``: a tiny encoder and heads),
    randomly initialised on ``device``, and its optimizer wrapper (``amp``: bfloat16
    autocast through ``AutocastOptimWrapper``)."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, DefaultScope

    cfg = Config.fromfile(osp.join(ROOT, MASK_RCNN))
    cfg.model.backbone.init_cfg = None
    if amp:
        cfg.optim_wrapper.update(type='locca_mm.AutocastOptimWrapper', dtype='bfloat16')
    if quick:
        d = 32
        cfg.model.backbone.update(arch=dict(embed_dims=d, num_layers=4, num_heads=2,
                                            feedforward_channels=64),
                                  img_size=size, window_size=4, global_attn_indexes=(1, 3))
        cfg.model.neck.update(backbone_channel=d, in_channels=[d // 4, d // 2, d, d])
        cfg.model.data_preprocessor.batch_augments[0].size = (size, size)
        cfg.model.roi_head.bbox_head.update(conv_out_channels=32, fc_out_channels=64)
        cfg.model.roi_head.mask_head.conv_out_channels = 32
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model).to(device)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs every parameter on stdout
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, wrapper


def detection_batch(batch: int, size: int) -> dict:
    """``batch`` random ``size``-px uint8 images with 8 random boxes (and box masks) each."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    rng = np.random.default_rng(0)
    samples, images = [], []
    for _ in range(batch):
        xy = rng.uniform(0, size * 0.7, (8, 2))
        wh = rng.uniform(size * 0.05, size * 0.3, (8, 2))
        boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        masks = np.zeros((8, size, size), np.uint8)
        for m, (x1, y1, x2, y2) in zip(masks, boxes.astype(int)):
            m[y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                             pad_shape=(size, size), scale_factor=(1., 1.),
                                             batch_input_shape=(size, size)))
        sample.gt_instances = InstanceData(bboxes=torch.from_numpy(boxes),
                                           labels=torch.from_numpy(rng.integers(0, 80, 8)),
                                           masks=BitmapMasks(masks, size, size))
        samples.append(sample)
        images.append(torch.randint(0, 256, (3, size, size), dtype=torch.uint8))
    return dict(inputs=images, data_samples=samples)


def bench_val(args, root: str, out: dict) -> None:
    """The cost of validation while pretraining: one validation pass of ``--val-config``
    against ``val_interval`` training steps, timed side by side in one runner."""
    import torch
    from mmengine.hooks import Hook

    from locca_mm.cli import build_runner, load_config
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


def main(argv=None):
    args = parse_args(argv)
    import torch

    from locca_mm.utils import register_all_modules
    register_all_modules()
    cuda = torch.cuda.is_available()
    device = torch.device('cuda' if cuda else 'cpu')
    args.batch = args.batch or (2 if args.quick else 64 if cuda else 8)
    args.reps = args.reps or (1 if args.quick else 3)
    sections = set(args.sections or (['data'] if args.data else
                                     [s for s in SECTIONS if s not in OPT_IN]))
    if not args.compare_open_clip:
        sections.discard('open_clip')
    out = dict(device=torch.cuda.get_device_name() if cuda else 'cpu',
               torch_threads=torch.get_num_threads(), batch=args.batch, quick=args.quick)
    out.update(precision_info(args, device))
    with tempfile.TemporaryDirectory() as root:
        tokfile = word_tokenizer_file(root, 1000 if args.quick else 32000)
        from tools.data_benchmark import data_rates
        from tools.pseudo_label_benchmark import pseudo_label_rates
        steps = dict(
            train=lambda: bench_train(args, tokfile, device, out),
            decode=lambda: bench_decode(args, tokfile, device, out),
            rec=lambda: bench_rec(args, tokfile, device, out),
            open_clip=lambda: bench_open_clip(args, tokfile, device, out),
            mfu=lambda: bench_mfu(args, tokfile, out),
            transfer=lambda: bench_transfer(args, device, out),
            val=lambda: bench_val(args, root, out),
            compile=lambda: bench_compile(args, tokfile, device, out),
            pseudo_label=lambda: out.__setitem__('pseudo_label',
                                                 pseudo_label_rates(args.quick)),
            data=lambda: out.__setitem__('samples_per_s_per_worker', data_rates(args.quick)))
        for name in SECTIONS:
            if name not in sections:
                continue
            start = time.time()
            try:
                steps[name]()
            except Exception as e:  # noqa: BLE001 - one failed section keeps the others
                out.setdefault('errors', {})[name] = f'{type(e).__name__}: {e}'
            print(f'[benchmark] {name}: {time.time() - start:.0f} s', file=sys.stderr,
                  flush=True)
    print(json.dumps(out, indent=1, sort_keys=True))
    return out


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    main()
