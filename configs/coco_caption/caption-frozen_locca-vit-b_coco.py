# Caption transfer to COCO: the pretrained encoder is frozen and a fresh decoder
# learns COCO captions; CIDEr and BLEU on val2017 (tools/test.py prints them).
#   python tools/train.py configs/coco_caption/caption-frozen_locca-vit-b_coco.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
_base_ = [
    '../_base_/models/locca_vit_b.py',
    '../_base_/datasets/coco_caption_eval.py',
    '../_base_/schedules/rec_frozen.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=12,
        # The pretrained encoder (or --cfg-options encoder_from=CKPT with the tools).
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth')),
    head=dict(tasks=('cap', ), parallel_ratio=0.0),
    test_cfg=dict(task='cap', num_beams=3, max_new_tokens=40),
)
default_hooks = dict(checkpoint=dict(interval=5000, save_best='caption/CIDEr', rule='greater'))
