# LocCa ViT-L/16 pretraining with fully sharded data parallel (FSDP2) through
# mmengine's FlexibleRunner: parameters, gradients and optimizer state are sharded
# over the GPUs (each encoder block its own unit); compute in bfloat16.
#   bash tools/dist_train.sh configs/locca/locca_vit-l16_256xb32-fsdp-1100k_webli.py 8
_base_ = './locca_vit-l16_256xb32-1100k_webli.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='locca_mm.FSDP2Strategy',
    shard_modules=('EncoderBlock', ),
    mixed_precision='bfloat16',
)
# Activation checkpointing of the encoder blocks trades compute for memory.
model = dict(backbone=dict(with_cp=True))
