# The paper's recipe: the Scaling-ViT Adafactor variant, lr 1e-3, weight decay
# 1e-4 (big_vision's convention, i.e. 0.1 × lr here), linear warm-up then cosine
# decay, gradient clipping at 1.0. Batch 8192; a child config sets max_iters.
warmup_iters = 10_000

optim_wrapper = dict(
    type='OptimWrapper',
    # Weight decay on kernels only (dense and conv weights), as big_vision.
    constructor='KernelDecayOptimWrapperConstructor',
    optimizer=dict(type='ScalingViTAdafactor', lr=1e-3, beta1=0.9, decay_rate=0.8,
                   beta2_cap=0.999, weight_decay=0.1),
    clip_grad=dict(max_norm=1.0),
)

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=1_100_000, val_interval=10_000)

auto_scale_lr = dict(base_batch_size=8192, enable=False)
