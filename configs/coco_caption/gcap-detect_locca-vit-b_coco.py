# Grounded captioning as detection: the pretrained LocCa writes boxes and their texts
# after "GCap:" (10 boxes per image by beam search); texts are mapped to COCO's
# category names and scored with mmdet's CocoMetric (box mAP) on val2017. No training: one
# box per beam. The paper's detection experiment, where the model is fine-tuned to write every
# object of an image in one GCap sequence (up to 25 box + name pairs, 'detect_seq'), is
# configs/coco_detection/gcap-detect-seq-finetune_locca-vit-b_coco.py.
#   python tools/test.py configs/coco_caption/gcap-detect_locca-vit-b_coco.py CKPT
_base_ = ['../_base_/models/locca_vit_b.py', '../_base_/default_runtime.py']

data_root = 'data/coco/'
model = dict(test_cfg=dict(task='detect', num_beams=10))
test_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='CocoCaptionDataset',
        data_root=data_root,
        ann_file='annotations/captions_val2017.json',
        instances_file='annotations/instances_val2017.json',
        data_prefix=dict(img_path='val2017/'),
        eval_task='detect',
        test_mode=True,
        pipeline=[
            dict(type='LoadImage'),
            dict(type='Resize', scale=(224, 224), keep_ratio=False),
            dict(type='PackLocCaInputs'),
        ]),
)
test_evaluator = dict(type='GroundedCaptionDetMetric',
                      ann_file=data_root + 'annotations/instances_val2017.json')
test_cfg = dict(type='TestLoop')
