# Pretraining of the CoCa baseline, ViT-B/16 (contrastive + captioning, decoupled decoder).
_base_ = [
    './_base_/models/coca_vit_b.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
