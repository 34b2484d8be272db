# The RefCOCO protocol for the LocCa ViT-L/16 encoder (the paper's headline setting).
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(backbone=dict(
    arch='l', frozen_stages=24,
    init_cfg=dict(checkpoint='work_dirs/locca_vit-l16_256xb32-1100k_webli/iter_1100000.pth')))
