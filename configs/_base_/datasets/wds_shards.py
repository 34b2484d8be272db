# Pretraining data in WebDataset-layout tar shards ({key}.jpg + {key}.json, the JSONL
# record format), e.g. image-text pairs pseudo-labelled by tools/dataset_converters/pseudo_label.py.
# Shards may be local paths or fsspec URLs; brace ranges expand.
# BuildTaskSequences tokenises with the dataset's `tokenizer`: a config that inherits a model
# base gives it the model's (`train_dataloader = dict(dataset=dict(tokenizer=_base_.tokenizer))`).
_base_ = ['./train_loader.py']

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='SampleRegions', score_thr=0.3),
    dict(type='BuildTaskSequences', tasks=('cap', 'aref', 'gcap')),
    dict(type='PackLocCaInputs'),
]
# For sources with regions but no captions (Visual Genome).
region_pipeline = [
    dict(type='LoadImage'),
    dict(type='LoadRegions', box_type=None),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='SampleRegions', score_thr=0.3),
    dict(type='BuildTaskSequences', tasks=('aref', 'gcap')),
    dict(type='PackLocCaInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='ShardedTarDataset',
        shards='data/pretrain/shards/train-{000000..000999}.tar',
        pipeline=train_pipeline,
        skip_invalid=True,
    ),
)
