# The Cap baseline of the demo: the same encoder, decoder, data, steps and seed as
# locca/locca_vit-tiny_1xb48-600it_shapes.py, trained on captions only (autoregressive).
_base_ = '../locca/locca_vit-tiny_1xb48-600it_shapes.py'

model = dict(head=dict(tasks=('cap', ), parallel_ratio=0.0))
