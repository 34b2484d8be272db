# The holistic transfers' data pipelines, one for every task: the image resized to 224 px
# (no augmentation: the REC and caption protocols' choice); training builds the Cap row
# (a class name, a caption, or a question and its answer); evaluation packs the sample's
# prompt and ground truth. Dataset bases inherit this and add their `dataset`.
_base_ = ['./train_loader.py', './eval_loader.py']

img_size = 224
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='BuildTaskSequences', tasks=('cap', )),
    dict(type='PackLocCaInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='PackLocCaInputs'),
]
