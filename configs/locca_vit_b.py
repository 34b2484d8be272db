# Pretraining of LocCa ViT-B/16: Cap (half in parallel prediction) + ARef + GCap.
_base_ = [
    './_base_/models/locca_vit_b.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
