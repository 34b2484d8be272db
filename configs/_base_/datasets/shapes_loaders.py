# How the embedded SyntheticShapes data is loaded (CPU, in the main process): 48 images a
# training step, endless shuffled sampling; evaluation 100 images a batch, in order. The
# dataset bases add their `dataset`; a test loader is the validation one with another dataset:
#   test_dataloader = dict(_base_.val_dataloader, dataset=...)
train_dataloader = dict(
    batch_size=48,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)
