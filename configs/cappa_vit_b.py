# Pretraining of the CapPa baseline, ViT-B/16 (captioning, 75% parallel prediction).
_base_ = [
    './_base_/models/cappa_vit_b.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
