# pretrain_webli.py validated as LocCa is: held-out captions (CIDEr) and RefCOCO val
# expressions (the model's own ARef, Acc@0.5) every 10k steps (datasets/pretrain_val.py);
# the checkpoint with the best own-ARef accuracy is kept.
_base_ = ['./pretrain_webli.py', './datasets/pretrain_val.py']

default_hooks = dict(checkpoint=dict(save_best='aref/Acc@0.5', rule='greater'))
