# CoCa baseline (Yu et al., 2022): a decoupled decoder — unimodal text layers
# without cross-attention, then multimodal layers — whose text-CLS output is
# contrasted with an attentionally pooled image embedding. The captioning
# layers attend to 256 attentionally pooled visual tokens.
# loss = λ_con · L_con + λ_cap · L_cap with CoCa's λ_con = 1, λ_cap = 2.
_base_ = './locca_vit_b.py'

# Captions carry no task prefix here; the leaf configs give `tokenizer` to the pipeline too.
tokenizer = dict(prefixes=dict(cap='', aref='ARef:', gcap='GCap:'))
model = dict(
    tokenizer=tokenizer,
    head=dict(
        decoder=dict(num_layers=12, num_unimodal_layers=6, with_text_cls=True),
        tasks=('cap', ),
        parallel_ratio=0.0,
        loss_weights=dict(cap=2.0),
        memory_pool=dict(num_queries=256, num_heads=12),
    ),
    contrastive_head=dict(type='ContrastiveHead', loss_type='softmax', pool='map',
                          num_heads=12, loss_weight=1.0),
)
