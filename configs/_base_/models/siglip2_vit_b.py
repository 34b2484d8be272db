# SigLIP 2 ViT-B/16 (Tschannen et al., 2025): SigLIP's two towers — the ViT-B/16 image
# encoder with a MAP pooler, a 12-layer width-768 text tower — scored by the sigmoid loss
# (t' = log 10, b = -10), plus LocCa's decoder on the un-pooled tokens with the text tower's
# shape and half its layers (6), trained on Cap (half in parallel prediction), ARef and GCap
# with the same weight as the sigmoid loss. The MLPs use the tanh GELU (big_vision's nn.gelu),
# so the encoder matches the released SigLIP 2 weights. Stage two is off here: the
# siglip2_vit-b16 configs set `model.stage_two = _base_.stage_two`.
# Departures (docs/en/user_guides/siglip2.md): 224 px (the paper pretrains at 256; the
# released B/16 comes at 224 to 512) and the project's CLIP BPE tokenizer (the paper: Gemma's
# 256k vocabulary, text lower-cased).
_base_ = './locca_vit_b.py'

model = dict(
    type='SigLIP2',
    backbone=dict(act_cfg=dict(type='GELU', approximate='tanh')),
    contrastive_head=dict(
        type='ContrastiveHead',
        loss_type='sigmoid',
        pool='map',
        num_heads=12,
        text_encoder=dict(type='TextEncoder', embed_dims=768, num_layers=12, num_heads=12,
                          max_len=64),
    ),
    stage_two=None,
)

# Stage two (the last 20 % of the steps): one global 224-px crop and eight 96-px local crops
# (DINO's sizes), DINO heads (65,536 prototypes for the image embedding, 8,192 for the
# patches: iBOT's), 50 % of the student's patches masked; loss weights 1 and 0.25 times
# SigLIP 2's factor for B (0.25). Teacher temperature 0.04, student 0.1, centre momentum 0.9
# (DINO's; SILC and SigLIP 2 do not restate them).
stage_two = dict(
    views=dict(type='MultiCropViews', global_size=224, local_size=96, num_local=8),
    head=dict(type='SelfDistillationHead', num_prototypes=65536, hidden_dims=2048,
              bottleneck_dims=256),
    patch_head=dict(type='SelfDistillationHead', num_prototypes=8192, hidden_dims=2048,
                    bottleneck_dims=256),
    distill_weight=1.0,
    masked_weight=0.25,
    size_factor=0.25,
    mask_ratio=0.5,
)
