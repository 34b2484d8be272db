# Tiny LocCa for the embedded SyntheticShapes data: a 4-layer width-128 ViT on
# 64-px images (8-px patches, sin-cos positions), a 2-layer decoder, a closed word
# vocabulary and 32 location bins.
# Three decoder choices make location learnable in a few hundred CPU steps:
# 2-D positions on the cross-attention keys (DETR), location embeddings started from
# sin-cos codes, and Gaussian targets over neighbouring bins (sigma = 1 bin).
# Measured without the key positions (600 pretraining steps, 500 REC steps, Acc@0.5 on
# 500 ref_test expressions): LocCa's own ARef 12%, REC 13% (LocCa encoder) vs 14% (Cap);
# with 2,000 pretraining steps 16% / 17% vs 16%; a learned position table instead of
# sin-cos: REC 16% vs 25%. With the key positions: LocCa's own ARef 32%, and the REC
# decoder leaves its loss plateau or not by chance (21-70% for one LocCa encoder,
# 31-90% for one Cap encoder over seeds and 500-1000 steps).
num_bins = 32
tokenizer = dict(
    type='LocCaTokenizer',
    text_tokenizer=dict(
        type='WordTokenizer',
        # = SyntheticShapes.vocabulary()
        vocab=['a', 'the', 'two', 'and', 'is', 'of', 'left', 'right', 'top', 'bottom', 'above',
               'below', ',', '.', ':', 'cap', 'aref', 'gcap', 'one', 'three', 'four', 'shapes',
               'picture', 'on', 'at', 'red', 'green', 'blue', 'yellow', 'purple', 'white',
               'circle', 'square', 'triangle', 'circles', 'squares', 'triangles']),
    box_tokenizer=dict(type='BoxTokenizer', num_bins=num_bins, order='yxyx'),
    max_length=dict(cap=40, aref=16, gcap=16),
)

model = dict(
    type='LocCa',
    tokenizer=tokenizer,
    backbone=dict(
        type='LocCaViT',
        arch=dict(embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512),
        img_size=64,
        patch_size=8,
        pos_embed='sincos2d'),
    head=dict(
        type='LocCaHead',
        decoder=dict(type='TextDecoder', num_layers=2, max_len=40, loc_embed_init='sincos'),
        tasks=('cap', 'aref', 'gcap'),
        parallel_ratio=0.5,
        loc_sigma=1.0),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True),
)
