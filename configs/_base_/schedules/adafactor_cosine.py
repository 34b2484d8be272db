# The paper's recipe: adamw_cosine.py's shape (weight decay on kernels only, linear warm-up
# then cosine decay, gradient clipping at 1.0) with the Scaling-ViT Adafactor variant, lr 1e-3,
# weight decay 1e-4 (big_vision's convention, i.e. 0.1 × lr here), 10k warm-up steps,
# 1.1 M steps of 8192 images, validation every 10k.
_base_ = './adamw_cosine.py'

warmup_iters = 10_000

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='ScalingViTAdafactor', lr=1e-3, beta1=0.9,
                   decay_rate=0.8, beta2_cap=0.999, weight_decay=0.1))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]

train_cfg = dict(max_iters=1_100_000)

auto_scale_lr = dict(base_batch_size=8192)
