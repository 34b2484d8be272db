# GQA question answering, holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best GQA/acc is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/vqa_gqa.py):
#   data/gqa/images/*.jpg,
#   data/gqa/train_balanced_questions.json, data/gqa/testdev_balanced_questions.json
# Train, then test:
#   python tools/train.py configs/holistic/vqa-frozen_locca-vit-b_gqa.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/vqa-frozen_locca-vit-b_gqa.py \
#       work_dirs/vqa-frozen_locca-vit-b_gqa/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/vqa_gqa.py']

default_hooks = dict(checkpoint=dict(save_best='GQA/acc', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
