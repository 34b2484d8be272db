# Pretraining of the Cap baseline, ViT-B/16 (autoregressive captioning only).
_base_ = [
    './_base_/models/cap_vit_b.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
