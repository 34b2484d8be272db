# The RefCOCO protocol on a SigLIP 2 ViT-B/16 image tower as it comes (no LocCa pretraining):
# the same frozen-encoder, fresh-decoder training as rec-frozen_locca-vit-b_refcoco.py, the
# encoder from the local file tools/model_converters/timm_vit.py (or hf_siglip.py,
# big_vision_vit.py) wrote (docs/en/user_guides/transfer.md, "Starting from SigLIP / SigLIP 2").
_base_ = './rec-frozen_locca-vit-b_refcoco.py'

model = dict(backbone=dict(
    act_cfg=dict(type='GELU', approximate='tanh'),  # SigLIP's MLP activation
    init_cfg=dict(checkpoint='checkpoints/siglip2_vit-b16-224.safetensors')))
