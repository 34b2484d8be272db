# The RefCOCO protocol (see rec-frozen_locca-vit-b_refcoco.py) on RefCOCOg: UMD val, test.
_base_ = [
    '../_base_/models/locca_vit_b.py',
    '../_base_/datasets/refcocog.py',
    '../_base_/schedules/rec_frozen.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        frozen_stages=12,  # every block, the embeddings and the final norm
        # The pretrained encoder (or --cfg-options encoder_from=CKPT with the tools).
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth')),
    head=dict(tasks=('aref', ), parallel_ratio=0.0),
    test_cfg=dict(task='ref', num_beams=1),
)
train_dataloader = dict(batch_size=32)  # x 8 GPUs = 256 expressions a step
default_hooks = dict(checkpoint=dict(interval=5000, save_best='refcoco/Acc@0.5', rule='greater'))
