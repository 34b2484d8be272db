# Cap baseline: the same encoder and decoder, captioning only, always autoregressive.
_base_ = './locca_vit_b.py'

model = dict(head=dict(tasks=('cap', ), parallel_ratio=0.0))
