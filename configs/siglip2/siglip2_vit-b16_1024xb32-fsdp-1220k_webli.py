# siglip2_vit-b16_1024xb32-1220k_webli.py with fully sharded data parallel (FSDP2) through
# mmengine's FlexibleRunner: parameters, gradients and optimizer state of the student, and
# the EMA teacher's parameters, sharded over the GPUs (each encoder block its own unit, the
# teacher's too: its EMA update runs shard by shard); compute in bfloat16.
#   bash tools/dist_train.sh configs/siglip2/siglip2_vit-b16_1024xb32-fsdp-1220k_webli.py 8
_base_ = './siglip2_vit-b16_1024xb32-1220k_webli.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='locca_mm.FSDP2Strategy',
    shard_modules=('EncoderBlock', ),
    mixed_precision='bfloat16',
)
model = dict(backbone=dict(with_cp=True))
