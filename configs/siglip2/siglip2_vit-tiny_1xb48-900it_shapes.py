# SigLIP 2's full recipe on the embedded SyntheticShapes data: SigLIP + LocCa for the whole run
# (siglip-locca_vit-tiny_1xb48-900it_shapes.py, which this equals up to the switch) and, from
# 80 % of the steps (iteration 721 of 900), SILC's local-to-global self-distillation and TIPS'
# masked prediction against an EMA teacher (SigLIP2StageHook). Loss weights 1 and 0.25 times
# SigLIP 2's size factor for B (0.25), the smallest the paper gives.
_base_ = './siglip-locca_vit-tiny_1xb48-900it_shapes.py'

# One 64-px global crop and eight 24-px local crops (3 x 3 patches; DINO's local side is
# 96/224 = 0.43 of the global one, 0.38 here: the local-crop pass costs 40 % less at 24 px
# than at 32 px on a CPU), DINO heads narrowed to the 128-wide tokens.
model = dict(stage_two=dict(
    _delete_=True,
    views=dict(type='MultiCropViews', global_size=64, local_size=24, num_local=8),
    head=dict(type='SelfDistillationHead', num_prototypes=1024, hidden_dims=512,
              bottleneck_dims=64),
    patch_head=dict(type='SelfDistillationHead', num_prototypes=256, hidden_dims=512,
                    bottleneck_dims=64),
))
# The teacher's EMA momentum is fixed (SILC); 0.98 at this length (180 stage-two steps: the
# teacher averages the last ~50), where DINO's 0.996 would leave it at the switch.
custom_hooks = [
    *_base_.custom_hooks,
    dict(type='SigLIP2StageHook', start_fraction=0.8, momentum=0.98),
]
