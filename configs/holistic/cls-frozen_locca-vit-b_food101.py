# Food-101 classification as text, holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best cls/accuracy is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/cls_food101.py):
#   data/food-101/images/<class>/<id>.jpg, meta/train.txt, meta/test.txt ('<class>/<id>').
# Train, then test:
#   python tools/train.py configs/holistic/cls-frozen_locca-vit-b_food101.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/cls-frozen_locca-vit-b_food101.py \
#       work_dirs/cls-frozen_locca-vit-b_food101/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/cls_food101.py']

default_hooks = dict(checkpoint=dict(save_best='cls/accuracy', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
