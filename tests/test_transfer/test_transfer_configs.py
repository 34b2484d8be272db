"""Every transfer config, shrunk to the tiny encoder: 2 training iterations, a predict step,
and the encoder as the LocCa checkpoint left it after ``init_weights``."""
import os.path as osp
from typing import Callable, List, NamedTuple

import pytest
from mmengine.config import Config

from .utils import (
    ARCH,
    DATA,
    assert_encoder_changed,
    assert_encoder_is,
    assert_trained,
    config_path,
    for_test,
    shrink,
    train_and_predict,
)

D = ARCH['embed_dims']


# ------------------------------------------------------------------------------ mmdet
def tiny_detector(cfg: Config) -> int:
    size = 128  # an 8 x 8 grid at patch 16: windows of 4 tile it, the strides stay 4..64
    shrink(cfg, {(1024, 1024): (size, size), 1024: size})
    cfg.model.backbone.update(window_size=4, global_attn_indexes=(1, 3))
    cfg.model.neck.update(backbone_channel=D, in_channels=[D // 4, D // 2, D, D])
    # Narrower RoI heads, fewer proposals and RoIs: the 4conv1fc heads dominate a CPU step.
    roi_head = cfg.model.roi_head
    bbox_heads = roi_head.bbox_head if isinstance(roi_head.bbox_head, list) else [
        roi_head.bbox_head]
    for head in bbox_heads:
        head.update(conv_out_channels=32, fc_out_channels=64)
    roi_head.mask_head.conv_out_channels = 32
    train_cfg, test_cfg = cfg.model.train_cfg, cfg.model.test_cfg
    train_cfg.rpn.sampler.num = 64
    train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=32)
    for stage in train_cfg.rcnn if isinstance(train_cfg.rcnn, list) else [train_cfg.rcnn]:
        stage.sampler.num = 16
    test_cfg.rpn.update(nms_pre=200, max_per_img=16)
    test_cfg.rcnn.max_per_img = 10
    # LSJ's smallest scale (0.1) of a 128-px crop is smaller than the anchors, which Cascade's
    # RPN (allowed_border=0) refuses; at 1024 px it is 102 px and fine.
    for t in cfg.train_dataloader.dataset.dataset.pipeline:
        if t.type == 'RandomResize':
            t.ratio_range = (0.5, 2.0)
    coco = dict(data_root=osp.join(DATA, 'coco'), ann_file='annotations/instances_tiny.json',
                data_prefix=dict(img='images/'), metainfo=dict(classes=('circle', 'square')))
    cfg.train_dataloader.dataset.dataset.update(coco)
    cfg.test_dataloader.dataset.update(coco)
    return size


def check_detections(runner, losses: dict, predictions: List) -> None:
    assert any(k.endswith('loss_mask') for k in losses) and 'loss_rpn_cls' in losses
    assert [b.window_size for b in runner.model.backbone.blocks] == [4, 0, 4, 0]
    assert len(predictions) == 2
    for sample in predictions:
        inst = sample.pred_instances
        h, w = sample.ori_shape
        assert inst.bboxes.shape[1] == 4 and len(inst.scores) == len(inst.bboxes)
        assert tuple(inst.masks.shape[1:]) == (h, w) and len(inst.masks) == len(inst.bboxes)


# ------------------------------------------------------------------------------ mmseg
def tiny_segmentor(cfg: Config) -> int:
    crop = 64
    shrink(cfg, {(512, 512): (crop, crop), (2048, 512): (4 * crop, crop), 512: crop})
    model = cfg.model
    if model.neck is not None:  # UperNet: four blocks through Feature2Pyramid
        model.backbone.out_indices = (0, 1, 2, 3)
        model.neck.embed_dim = D
        model.decode_head.update(in_channels=[D] * 4, channels=D)
        model.auxiliary_head.update(in_channels=D, channels=D)
    else:
        model.decode_head.update(in_channels=D, channels=D)
    model.test_cfg = dict(mode='whole')
    for phase, split in (('train', 'training'), ('test', 'validation')):
        cfg[f'{phase}_dataloader'].dataset.update(
            data_root=osp.join(DATA, 'ade'),
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'))
    cfg.test_dataloader.batch_size = 1
    return crop


def check_segmentation(runner, losses: dict, predictions: List) -> None:
    assert 'decode.loss_ce' in losses
    (sample, ) = predictions
    h, w = sample.ori_shape
    assert tuple(sample.pred_sem_seg.data.shape) == (1, h, w)
    assert int(sample.pred_sem_seg.data.max()) < 150


# ------------------------------------------------------------------------------ mmpretrain
def tiny_classifier(cfg: Config) -> int:
    size = 64
    shrink(cfg, {224: size, 256: size + size // 7})
    if cfg.model.neck.type == 'locca_mm.MAPNeck':
        cfg.model.neck.update(in_channels=D, num_heads=2)
    cfg.model.head.in_channels = D
    for phase, split in (('train', 'train'), ('test', 'val')):
        cfg[f'{phase}_dataloader'].dataset.update(data_root=osp.join(DATA, 'imagenet'),
                                                  split=split)
    return size


def check_classification(runner, losses: dict, predictions: List) -> None:
    assert 'loss' in losses
    assert len(predictions) == 2
    for sample in predictions:
        assert sample.pred_score.shape == (1000, )
        assert abs(float(sample.pred_score.sum()) - 1) < 1e-4


class Case(NamedTuple):
    config: str
    shrink: Callable[[Config], int]  # edits the config, returns the input size
    check: Callable
    frozen_encoder: bool = False


CASES = [
    Case('mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py', tiny_detector,
         check_detections),
    Case('mmdet/cascade-mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py', tiny_detector,
         check_detections),
    Case('mmseg/upernet_locca-vit-b_ade20k-512x512.py', tiny_segmentor, check_segmentation),
    Case('mmseg/linear-frozen_locca-vit-b_ade20k-512x512.py', tiny_segmentor,
         check_segmentation, frozen_encoder=True),
    Case('mmseg/linear-finetune_locca-vit-b_ade20k-512x512.py', tiny_segmentor,
         check_segmentation),
    Case('mmpretrain/linear-probe_locca-vit-b_in1k.py', tiny_classifier, check_classification,
         frozen_encoder=True),
    Case('mmpretrain/fine-tune_locca-vit-b_in1k.py', tiny_classifier, check_classification),
]


@pytest.mark.parametrize('case', CASES, ids=[osp.basename(c.config)[:-3] for c in CASES])
@pytest.mark.slow
def test_config_trains_predicts_and_starts_from_the_locca_encoder(case, tmp_path,
                                                                  locca_checkpoint):
    path, encoder = locca_checkpoint
    cfg = Config.fromfile(config_path(case.config))
    size = case.shrink(cfg)
    cfg = for_test(cfg, str(tmp_path / 'work'), path)
    runner, recorder, predictions = train_and_predict(cfg)

    grid = (size // 16, size // 16)
    assert_encoder_is(recorder.backbone, encoder, grid)
    assert_trained(recorder)
    case.check(runner, recorder.losses[0], predictions)
    backbone = runner.model.backbone
    if case.frozen_encoder:
        # Only the head trains; the encoder is where init left it, bit for bit.
        assert not any(p.requires_grad for p in backbone.parameters())
        assert_encoder_is(backbone.state_dict(), encoder, grid)
    else:
        # Fine-tuned: every block moved from where init left it, the first one too (the
        # smallest lr of the layer-wise decay).
        assert all(p.requires_grad for p in backbone.parameters())
        assert_encoder_changed(backbone.state_dict(), recorder.backbone)
