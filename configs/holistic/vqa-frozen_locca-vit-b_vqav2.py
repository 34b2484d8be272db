# VQAv2 question answering, holistic frozen-encoder protocol
# (_base_/holistic_frozen_vit_b.py): the LocCa ViT-B/16 encoder frozen, a fresh decoder
# trained on the task; the checkpoint with the best VQA/acc is kept. Another encoder
# (Cap, CapPa, CoCa, CLIP) is the same config with --cfg-options encoder_from=CKPT.
# Data (configs/_base_/datasets/vqa_vqav2.py):
#   data/coco/train2014/COCO_train2014_<12-digit id>.jpg, val2014/COCO_val2014_*.jpg,
#   data/coco/annotations/v2_OpenEnded_mscoco_{train2014,val2014}_questions.json,
#   data/coco/annotations/v2_mscoco_{train2014,val2014}_annotations.json
# Train, then test:
#   python tools/train.py configs/holistic/vqa-frozen_locca-vit-b_vqav2.py \
#       --cfg-options encoder_from=work_dirs/locca_vit-b16_256xb32-1100k_webli/iter_1100000.pth
#   python tools/test.py configs/holistic/vqa-frozen_locca-vit-b_vqav2.py \
#       work_dirs/vqa-frozen_locca-vit-b_vqav2/iter_20000.pth
_base_ = ['../_base_/holistic_frozen_vit_b.py', '../_base_/datasets/vqa_vqav2.py']

default_hooks = dict(checkpoint=dict(save_best='VQA/acc', rule='greater'))

# The model's tokenizer for the pipeline's BuildTaskSequences (one config entry for both).
train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))
