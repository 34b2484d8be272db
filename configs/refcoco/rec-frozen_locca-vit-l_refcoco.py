# The RefCOCO protocol for the LocCa ViT-L/16 encoder (the paper's headline setting): the
# fresh decoder is _base_/models/locca_vit_l.py's (the encoder's width and heads, half its depth).
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(
    backbone=dict(
        arch='l', frozen_stages=24,
        init_cfg=dict(checkpoint='work_dirs/locca_vit-l16_256xb32-1100k_webli/iter_1100000.pth')),
    head=dict(decoder=dict(embed_dims=1024, num_heads=16, num_layers=12)))
