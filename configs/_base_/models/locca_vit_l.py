# LocCa with a ViT-L/16 encoder and a 12-layer decoder of the same width.
_base_ = './locca_vit_b.py'

model = dict(
    backbone=dict(arch='l'),
    # The encoder's width and heads, half its depth (the CapPa recipe).
    head=dict(decoder=dict(embed_dims=1024, num_heads=16, num_layers=12)))
