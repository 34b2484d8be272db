# Pretraining of LocCa ViT-L/16: Cap (half in parallel prediction) + ARef + GCap.
_base_ = [
    './_base_/models/locca_vit_l.py',
    './_base_/schedules/adafactor_cosine.py',
    './_base_/default_runtime.py',
]
