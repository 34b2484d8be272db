# Tiny SigLIP 2 for the embedded SyntheticShapes data: the tiny LocCa (locca_tiny_shapes.py:
# a 4-layer width-128 ViT on 64-px images, a 2-layer decoder) plus SigLIP's towers: a MAP
# pooler on the image tokens and a 4-layer width-128 text tower (the image tower's shape; the
# decoder has half its layers, as SigLIP 2's), scored by the sigmoid loss (t' = log 10, b = -10).
# Stage two (self-distillation, masked prediction) is off here; the siglip2 config sets it.
_base_ = './locca_tiny_shapes.py'

model = dict(
    type='SigLIP2',
    contrastive_head=dict(
        type='ContrastiveHead',
        loss_type='sigmoid',
        pool='map',
        num_heads=4,
        text_encoder=dict(type='TextEncoder', embed_dims=128, num_layers=4, num_heads=4,
                          max_len=34)),
    stage_two=None,
)

# Stage two at this scale: one 64-px global crop and eight 24-px local crops (3 x 3 patches;
# DINO's local side is 96/224 = 0.43 of the global one, 0.38 here: the local-crop pass costs
# 40 % less at 24 px than at 32 px on a CPU), DINO heads narrowed to the 128-wide tokens.
stage_two = dict(
    views=dict(type='MultiCropViews', global_size=64, local_size=24, num_local=8),
    head=dict(type='SelfDistillationHead', num_prototypes=1024, hidden_dims=512,
              bottleneck_dims=64),
    patch_head=dict(type='SelfDistillationHead', num_prototypes=256, hidden_dims=512,
                    bottleneck_dims=64),
)
