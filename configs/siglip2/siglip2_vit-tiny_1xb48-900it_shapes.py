# SigLIP 2's full recipe on the embedded SyntheticShapes data: SigLIP + LocCa for the whole run
# (siglip-locca_vit-tiny_1xb48-900it_shapes.py, which this equals up to the switch) and, from
# 80 % of the steps (iteration 721 of 900), SILC's local-to-global self-distillation and TIPS'
# masked prediction against an EMA teacher (SigLIP2StageHook). Loss weights 1 and 0.25 times
# SigLIP 2's size factor for B (0.25), the smallest the paper gives.
_base_ = './siglip-locca_vit-tiny_1xb48-900it_shapes.py'

model = dict(stage_two=dict(_base_.stage_two, _delete_=True))
# The teacher's EMA momentum is fixed (SILC); 0.98 at this length (180 stage-two steps: the
# teacher averages the last ~50), where DINO's 0.996 would leave it at the switch.
custom_hooks = [
    *_base_.custom_hooks,
    dict(type='SigLIP2StageHook', start_fraction=0.8, momentum=0.98),
]
