# Short CPU schedules of the embedded demo: AdamW lr 2e-3, 30 warm-up iterations, cosine.
# Weight decay: big_vision's 1e-4 (adamw_cosine.py), i.e. 1e-4 / lr = 0.05 at lr 2e-3.
_base_ = './adamw_cosine.py'

warmup_iters = 30
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.05), clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]
train_cfg = dict(max_iters=600, val_interval=100_000)
auto_scale_lr = dict(base_batch_size=48)
