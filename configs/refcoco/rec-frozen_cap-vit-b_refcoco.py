# The RefCOCO protocol for the Cap encoder: the same frozen-encoder, fresh-decoder
# training as rec-frozen_locca-vit-b_refcoco.py, from configs/cap/cap_vit-b16_256xb32-1100k_webli.py's checkpoint.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/cap_vit-b16_256xb32-1100k_webli/iter_1100000.pth')))
