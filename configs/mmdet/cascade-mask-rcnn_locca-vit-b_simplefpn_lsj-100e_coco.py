# Cascade Mask R-CNN with a LocCaViT-B/16 encoder and a SimpleFPN, ViTDet's recipe (LSJ 1024,
# 100 epochs); each of the three box heads is ViTDet's 4conv1fc with LayerNorm.
#   python tools/train.py configs/mmdet/cascade-mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/vitdet-lsj-100e_locca-vit-b_coco-instance.py',
]

model = dict(
    _base_.vitdet_model,
    roi_head=dict(
        bbox_head=[
            dict(stage, type='Shared4Conv1FCBBoxHead', conv_out_channels=256,
                 norm_cfg=_base_.norm_cfg) for stage in _base_.model.roi_head.bbox_head
        ],
        mask_head=dict(norm_cfg=_base_.norm_cfg)))
