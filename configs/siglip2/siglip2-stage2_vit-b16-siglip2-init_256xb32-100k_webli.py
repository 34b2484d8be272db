# Adapting a released SigLIP 2 ViT-B/16 (224 px) to your data with the full recipe: both of
# its towers (image encoder with its MAP head, text tower, logit scale and bias) are loaded,
# a fresh LocCa decoder joins them, and stage two (EMA teacher = the released encoder,
# self-distillation, masked prediction) is on from the first step. 100k steps of 8192 images,
# the pretrained towers at 0.1 x the decoder's learning rate. Nothing is downloaded at run
# time: convert a local copy of google/siglip2-base-patch16-224 first, and give its Gemma
# SentencePiece model (the text tower reads Gemma's ids, lower-cased text):
#   python tools/model_converters/hf_siglip.py checkpoints/siglip2-base-patch16-224 \
#       checkpoints/siglip2_vit-b16-224_towers.pth --siglip2-towers
#   bash tools/dist_train.sh configs/siglip2/siglip2-stage2_vit-b16-siglip2-init_256xb32-100k_webli.py 8
# The decoder's vocabulary is Gemma's 256k plus 500 location tokens (the paper's decoder uses
# the same tokenizer and computes its loss in chunks); the text tower's table gets the
# location rows untrained (captions never use them).
_base_ = './siglip2_vit-b16_1024xb32-1220k_webli.py'

tokenizer = dict(
    _delete_=True,
    type='LocCaTokenizer',
    text_tokenizer=dict(type='SentencePieceTokenizer',
                        model_file='checkpoints/gemma_tokenizer.model', lowercase=True),
    box_tokenizer=dict(type='BoxTokenizer', num_bins=500, order='yxyx'),
    prefixes=dict(cap='Cap:', aref='ARef:', gcap='GCap:'),
    max_length=dict(cap=64, aref=48, gcap=48),
    loss_on=dict(aref=('text', 'box'), gcap=('box', 'text')),
)
model = dict(
    tokenizer=tokenizer,
    # The released towers as hf_siglip.py --siglip2-towers prints them for B/16 at 224 px.
    contrastive_head=dict(
        _delete_=True, type='ContrastiveHead', loss_type='sigmoid', pool='map', num_heads=12,
        with_proj=False, pool_act_cfg=dict(type='GELU', approximate='tanh'),
        text_encoder=dict(type='SigLIPTextEncoder', embed_dims=768, num_layers=12,
                          num_heads=12, max_len=64)),
)
load_from = 'checkpoints/siglip2_vit-b16-224_towers.pth'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'backbone': dict(lr_mult=0.1), 'contrastive_head': dict(lr_mult=0.1)}))
warmup_iters = 2_000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, eta_min_ratio=0.0),
]
train_cfg = dict(max_iters=100_000)
auto_scale_lr = dict(base_batch_size=8192)
custom_hooks = [
    *_base_.custom_hooks[:-1],
    dict(type='SigLIP2StageHook', start_fraction=0.0, momentum=0.996),
]
train_dataloader = dict(dataset=dict(tokenizer=tokenizer))
