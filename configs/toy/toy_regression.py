# The smallest config that trains: a linear regressor on a synthetic dataset.
# A smoke test of the tools (train, resume, distributed, test) in seconds. Its components are
# test scaffolding (tests/toy.py), importable from a source checkout with the repository root
# on PYTHONPATH (as the test suite runs the tools); the installed package does not carry them.
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/adamw_cosine.py']

custom_imports = dict(imports=['tests.toy'], allow_failed_imports=False)

model = dict(type='ToyRegressor', dim=8)

_dataloader = dict(
    batch_size=4,
    num_workers=0,
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ToyRegressionDataset', num_samples=64, dim=8, seed=0),
)
train_dataloader = dict(**_dataloader, sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(**_dataloader, sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyMSEMetric')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
test_evaluator = val_evaluator

warmup_iters = 5
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]
train_cfg = dict(max_iters=40, val_interval=20)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=20),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(vis_backends=vis_backends)
auto_scale_lr = dict(base_batch_size=4)
