# How every real dataset is loaded for evaluation: 64 images per GPU, 8 workers kept alive, in
# order. The dataset bases add their `dataset`; a test loader is this one with another dataset:
#   test_dataloader = dict(_base_.val_dataloader, dataset=...)
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
)
