# LocCa with a ViT-L/16 encoder and a 12-layer decoder of the same width.
_base_ = './locca_vit_b.py'

model = dict(backbone=dict(arch='l'))
