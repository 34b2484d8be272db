# Tiny LocCa for the embedded SyntheticShapes data: a 4-layer width-128 ViT on
# 64-px images (8-px patches, a fixed 2-D sin-cos position table), a 2-layer decoder, a
# closed word vocabulary and 32 location bins.
# The decoder is the paper's (no positions on its cross-attention keys), with two output
# choices for tiny models: location embeddings started from sin-cos codes of their bin
# (neighbouring bins start alike), and Gaussian targets over neighbouring bins (sigma = 1
# bin: a near miss costs less than a far one). configs/shapes/rec-aided_tiny_shapes.py is the labelled variant whose
# REC decoder gets 2-D key positions. What they measure: docs/en/user_guides/embedded_demo.md.
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
    # Measured (tools/analysis_tools/sequence_lengths.py): 99.5% of the alt-text captions
    # fit in 25 tokens, every region row in 11.
    max_length=dict(cap=32, aref=16, gcap=16),
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
        decoder=dict(type='TextDecoder', embed_dims=128, num_heads=4, num_layers=2, max_len=32,
                     loc_embed_init='sincos'),
        tasks=('cap', 'aref', 'gcap'),
        parallel_ratio=0.5,
        loc_sigma=1.0),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True),
)
