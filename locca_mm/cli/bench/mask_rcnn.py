"""``--sections transfer`` of ``tools/benchmarks/benchmark.py``: one training step of the
ViTDet-style Mask R-CNN transfer config (LocCaViT-B, SimpleFPN) on random 1024-px images.
"""
import os.path as osp

from .common import ROOT, time_it

MASK_RCNN = 'configs/mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py'


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
