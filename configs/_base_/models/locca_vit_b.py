# LocCa with a ViT-B/16 encoder (224 px) and a 6-layer decoder of the same width.
# Text: CLIP's byte-level BPE (49,408 tokens, shipped with open_clip_torch: nothing to train);
# boxes: 500 location tokens appended after it, 4 per box in (y1, x1, y2, x2) order.
num_bins = 500
tokenizer = dict(
    type='LocCaTokenizer',
    text_tokenizer=dict(type='ClipBPETokenizer'),
    # The paper's choice, a 32k SentencePiece trained on your captions first:
    #   python tools/dataset_converters/train_tokenizer.py CAPTIONS \
    #       --out data/tokenizer/spm_32k --vocab-size 32000
    # text_tokenizer=dict(type='SentencePieceTokenizer', model_file='data/tokenizer/spm_32k.model'),
    box_tokenizer=dict(type='BoxTokenizer', num_bins=num_bins, order='yxyx'),
    prefixes=dict(cap='Cap:', aref='ARef:', gcap='GCap:'),
    # Region rows: prefix (~3) + text + separator + 4 locations + eos. 48 leaves ~38 text
    # tokens, ~28 words: RefCOCOg's expressions average 8.4 words. Measure a corpus with
    # tools/analysis_tools/sequence_lengths.py (cuts are counted, never silent).
    max_length=dict(cap=64, aref=48, gcap=48),
    # The loss covers text and box of both location tasks (the paper); configs/ablations/
    # narrows it as the paper's Table 7 does.
    loss_on=dict(aref=('text', 'box'), gcap=('box', 'text')),
)

model = dict(
    type='LocCa',
    tokenizer=tokenizer,
    backbone=dict(type='LocCaViT', arch='b', img_size=224, patch_size=16, out_type='tokens'),
    head=dict(
        type='LocCaHead',
        # The encoder's width and heads, half its depth (the CapPa recipe).
        decoder=dict(type='TextDecoder', embed_dims=768, num_heads=12, num_layers=6, max_len=64),
        tasks=('cap', 'aref', 'gcap'),
        parallel_ratio=0.5,  # half of the Cap rows in CapPa parallel prediction
    ),
    data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=True),
    test_cfg=dict(task='cap', num_beams=1),
)
