# Pretraining of the contrastive-only (CLIP) baseline, ViT-B/16.
_base_ = [
    './_base_/models/clip_vit_b.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
