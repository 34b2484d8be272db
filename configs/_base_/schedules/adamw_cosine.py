# AdamW with linear warm-up then cosine decay, iteration-based.
# A child config sets `train_cfg.max_iters`; the cosine phase ends there
# (mmengine fills a scheduler's missing `end` with max_iters).
warmup_iters = 1000

# Weight decay: big_vision's wd=1e-4. big_vision decouples it from the learning rate (a
# step multiplies a kernel by 1 - schedule(t) * wd); torch's AdamW multiplies it by
# 1 - lr * schedule(t) * weight_decay, so the same decay is weight_decay = 1e-4 / lr
# (0.1 at lr 1e-3). A child that changes lr sets weight_decay with it.
optim_wrapper = dict(
    type='OptimWrapper',
    # Weight decay on kernels only (dense and conv weights), as big_vision.
    constructor='KernelDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.1),
    clip_grad=dict(max_norm=1.0),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=100_000, val_interval=10_000)

# `tools/train.py --auto-scale-lr` scales lr by (total batch size / base_batch_size).
auto_scale_lr = dict(base_batch_size=256, enable=False)
