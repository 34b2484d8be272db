# The paper's fine-tuned REC setting (Table 1), ViT-B/16: encoder AND decoder start from the
# pretrained LocCa checkpoint (the decoder is the pretrained one, unlike the frozen protocol of
# rec_frozen_locca_vit_b.py) and both train on ARef rows, scored as 'ref' predictions (Acc@0.5;
# the best checkpoint is kept). The dataset base comes beside it (configs/refcoco/).
#   python tools/train.py configs/refcoco/rec-finetune_locca-vit-b_refcoco.py \
#       --cfg-options model_from=CKPT   # the encoder and the decoder from CKPT
# Recipe (not stated in the paper; schedules/finetune_layer_decay.py): AdamW, lr 1e-4 for the
# decoder and lr * 0.75^(13 - i) for encoder block i (layer-wise decay 0.75; embeddings
# 0.75^13), weight decay 0.05 on kernels, drop path 0.1, gradient clipping 1.0, 1k warm-up then
# cosine, 20k steps of 256 expressions.
_base_ = [
    './models/locca_vit_b.py',
    './schedules/finetune_layer_decay.py',
    './default_runtime.py',
]

# The pretrained LocCa (both encoder and decoder are read from it).
pretrained = 'work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth'
model = dict(
    backbone=dict(
        drop_path_rate=0.1,
        # Strict: missing / unexpected / mis-shaped encoder keys stop the run; a position
        # table of another grid (a higher fine-tuning resolution) is resampled.
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained)),
    head=dict(
        tasks=('aref', ), parallel_ratio=0.0,
        init_cfg=dict(type='Pretrained', prefix='head.', checkpoint=pretrained)),
    test_cfg=dict(task='ref', num_beams=1),
)

default_hooks = dict(checkpoint=dict(interval=5000, save_best='refcoco/Acc@0.5', rule='greater'))
