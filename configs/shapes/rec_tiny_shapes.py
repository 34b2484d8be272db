# The RefCOCO protocol on the synthetic referring split: a pretrained encoder
# (`model.backbone.init_cfg`; with the tools also --cfg-options
# encoder_from=work_dirs/locca_vit-tiny_1xb48-900it_shapes/iter_900.pth)
# is frozen and a freshly initialised decoder learns ARef; Acc@0.5 on ref_test.
_base_ = ['../_base_/frozen_tiny_shapes.py', '../_base_/datasets/shapes_ref.py']

model = dict(head=dict(tasks=('aref', )), test_cfg=dict(task='ref'))
# 600 steps of 48 expressions: on the demo's LocCa encoders (seeds 0-2) the decoder finds
# 84-91% of the validation expressions by step 360 and 90-92% of the test ones at 600; on
# the Cap encoders it stays at ~16% (docs/en/user_guides/embedded_demo.md).
train_cfg = dict(max_iters=600)

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
