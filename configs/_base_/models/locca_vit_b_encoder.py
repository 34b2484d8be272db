# LocCaViT-B/16 as the backbone of mmdet, mmseg and mmpretrain models (configs/mmdet, mmseg,
# mmpretrain). `init_cfg` is the one line that names the pretrained encoder: a full LocCa /
# Cap / CapPa / CoCa / CLIP checkpoint, or a file from tools/model_converters/
# (extract_encoder.py, big_vision_vit.py, timm_vit.py: .pth or .safetensors);
# `tools/train.py ... --cfg-options encoder_from=CKPT` sets it too.
custom_imports = dict(imports=['locca_mm'], allow_failed_imports=False)

locca_encoder = dict(
    _delete_=True,  # replaces the host model's backbone, and its init_cfg, entirely
    type='locca_mm.LocCaViT',
    arch='b',
    img_size=224,
    patch_size=16,
    out_type='featmap',
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/locca_vit-b16_256xb32-1100k_webli/encoder.pth', prefix='backbone.'))

# LocCa's pretraining input: RGB scaled to [-1, 1].
locca_normalization = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
