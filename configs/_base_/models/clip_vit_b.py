# Contrastive-only baseline: CLIP's softmax loss between a MAP-pooled image
# embedding and a 12-layer text encoder's CLS embedding. For SigLIP's sigmoid
# loss set contrastive_head.loss_type='sigmoid'.
_base_ = './locca_vit_b.py'

# Captions carry no task prefix here; the leaf configs give `tokenizer` to the pipeline too.
tokenizer = dict(prefixes=dict(cap='', aref='ARef:', gcap='GCap:'))
model = dict(
    tokenizer=tokenizer,
    head=None,
    contrastive_head=dict(
        type='ContrastiveHead',
        loss_type='softmax',
        pool='map',
        num_heads=12,
        text_encoder=dict(type='TextEncoder', embed_dims=768, num_layers=12, num_heads=12,
                          max_len=64),
    ),
)
