# The RefCOCO protocol for the CapPa encoder: the same frozen-encoder, fresh-decoder
# training as rec-frozen_locca-vit-b_refcoco.py, from configs/cappa/cappa_vit-b16_256xb32-1100k_webli.py's checkpoint.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cappa_vit-b16_256xb32-1100k_webli/iter_1100000.pth')))
