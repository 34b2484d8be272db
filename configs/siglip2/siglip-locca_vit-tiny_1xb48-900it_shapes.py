# SigLIP 2's first stage on the embedded SyntheticShapes data: SigLIP's sigmoid loss between the
# two towers plus LocCa's Cap / ARef / GCap decoder on the un-pooled tokens, with equal weight,
# for the whole run (no self-distillation): the "SigLIP + LocCa" row of `tools/demo.py
# --recipe siglip2`. Everything else is the tiny LocCa's (its encoder, decoder, data, 900
# steps, schedule with the encoder at 0.2 x the decoder's rate, validation, best own-ARef
# checkpoint): locca/locca_vit-tiny_1xb48-900it_shapes.py. The towers: a MAP pooler on the
# image tokens and a 4-layer width-128 text tower (the image tower's shape; the decoder has
# half its layers, as SigLIP 2's), t' = log 10, b = -10. Zero-shot classification while
# pretraining is scored by the towers (the class names as captions, the highest pair logit).
_base_ = '../locca/locca_vit-tiny_1xb48-900it_shapes.py'

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
