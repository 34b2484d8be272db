# The RefCOCO protocol on the synthetic referring split: a pretrained encoder
# (`model.backbone.init_cfg`; with the tools also --cfg-options
# encoder_from=work_dirs/locca_vit-tiny_1xb48-600it_shapes/iter_600.pth)
# is frozen and a freshly initialised decoder learns ARef; Acc@0.5 on ref_test.
_base_ = ['../_base_/frozen_tiny_shapes.py', '../_base_/datasets/shapes_ref.py']

model = dict(head=dict(tasks=('aref', )), test_cfg=dict(task='ref'))
train_cfg = dict(max_iters=1500)  # the aided decoder converges in ~1,500 steps
