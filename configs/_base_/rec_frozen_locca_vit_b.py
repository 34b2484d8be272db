# The paper's frozen-encoder protocol, ViT-B/16: the pretrained encoder is frozen and a freshly
# initialised decoder learns the task (REC: ARef, scored as 'ref' predictions, Acc@0.5; the
# best checkpoint is kept). The dataset base comes beside it (configs/refcoco/); the caption
# transfer (configs/coco_caption/) swaps the task. The encoder comes from
# `model.backbone.init_cfg`; with the tools also --cfg-options encoder_from=CKPT.
_base_ = [
    './models/locca_vit_b.py',
    './schedules/rec_frozen.py',
    './default_runtime.py',
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
default_hooks = dict(checkpoint=dict(interval=5000, save_best='refcoco/Acc@0.5', rule='greater'))
