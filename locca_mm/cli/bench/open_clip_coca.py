"""``--compare-open-clip`` of ``tools/benchmarks/benchmark.py``: open_clip's CoCa built at
our CoCa's size, its training step and its 64-token greedy generation timed against ours.
"""
from .common import autocast, batch_for, build, time_each, to_device, train_step

COCA = 'coca/coca_vit-b16_256xb32-1100k_webli'  # the baseline compared with open_clip's


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
