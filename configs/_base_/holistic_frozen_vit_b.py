# The paper's holistic transfers (Table 3) under the frozen-encoder protocol: the pretrained
# ViT-B/16 encoder is frozen and a freshly initialised decoder (6 layers, width 768) learns
# one task as text, on Cap rows only (autoregressive, no parallel prediction):
#   classification: "Cap: {class name} <eos>"      (TextClassificationMetric, cls/accuracy)
#   captioning:     "Cap: {caption} <eos>"          (CaptionMetric, caption/CIDEr)
#   VQA:            "Cap: {question} : {answer} <eos>", loss on the answer only
#                                                   (mmpretrain VQAAcc / GQAAcc)
# Every task and every encoder uses this one recipe: the REC protocol's AdamW lr 1e-3,
# 1k warm-up, cosine, 20k steps of 256 samples (32 a GPU x 8), greedy decoding. The
# encoder is the only difference between LocCa, Cap, CapPa, CoCa and CLIP rows:
#   python tools/train.py configs/holistic/<task config>.py \
#       --cfg-options encoder_from=work_dirs/<pretraining config>/iter_1100000.pth
# The text tokenizer is the model's CLIP byte-level BPE (configs/_base_/models/
# locca_vit_b.py): it spells any question, answer or class name (lower-cased).
_base_ = ['./rec_frozen_locca_vit_b.py']

model = dict(
    head=dict(tasks=('cap', ), parallel_ratio=0.0),
    # Greedy; answers and class names end at eos well within the Cap row's 64 tokens.
    test_cfg=dict(task='cap', num_beams=1, max_new_tokens=None),
)
# The task configs name their main metric: cls/accuracy, caption/CIDEr, VQA/acc, GQA/acc.
default_hooks = dict(checkpoint=dict(save_best='auto', rule='greater'))
