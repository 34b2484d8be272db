# The RefCOCO protocol for the encoder of
# configs/locca/locca_vit-b16-siglip2-init_256xb32-100k_webli.py (SigLIP 2 B/16, then LocCa
# pretraining): the same frozen-encoder, fresh-decoder training as
# rec-frozen_locca-vit-b_refcoco.py; compare with rec-frozen_siglip2-vit-b16_refcoco.py.
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(backbone=dict(
    act_cfg=dict(type='GELU', approximate='tanh'),  # SigLIP's MLP activation, kept
    init_cfg=dict(
        checkpoint='work_dirs/locca_vit-b16-siglip2-init_256xb32-100k_webli/iter_100000.pth')))
