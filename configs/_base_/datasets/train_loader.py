# How every real dataset is loaded for training: 32 images per GPU (x 256 GPUs = the paper's
# 8192; x 8 GPUs = the REC protocol's 256 expressions), 8 workers kept alive, endless shuffled
# sampling. The dataset bases add their `dataset`.
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
)
