# LocCa pretraining continued from a SigLIP 2 ViT-B/16 image tower (224 px) instead of from
# scratch: the encoder starts from the local file below, the decoder is new; Cap + ARef + GCap
# on your WebDataset shards (labelled as docs/en/user_guides/data.md describes), 100k steps of
# 8192 images, the encoder at 0.1 x the decoder's learning rate. Nothing is downloaded at run
# time: convert a checkpoint first (docs/en/user_guides/transfer.md, "Starting from SigLIP /
# SigLIP 2"), e.g.
#   python tools/model_converters/timm_vit.py --model vit_base_patch16_siglip_224.v2_webli \
#       --pretrained checkpoints/siglip2_vit-b16-224.safetensors --keep-pool --check
# or hf_siglip.py on a local google/siglip2-base-patch16-224 directory, big_vision_vit.py on
# big_vision's .npz.
_base_ = ['./locca_vit-b16_256xb32-1100k_webli.py']

model = dict(
    backbone=dict(
        # SigLIP's MLPs use the tanh GELU (big_vision's nn.gelu, Hugging Face's
        # gelu_pytorch_tanh); timm's B/16 port runs the exact GELU, < 1e-3 away.
        act_cfg=dict(type='GELU', approximate='tanh'),
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/siglip2_vit-b16-224.safetensors')))

# The pretrained encoder moves slowly; the fresh decoder at the full rate.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
warmup_iters = 2_000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]
train_cfg = dict(max_iters=100_000)
