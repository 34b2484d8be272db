"""SigLIP 2's recipe: its losses against hand computations, the EMA teacher, the multi-crop
views, the stage switch (at the right step, and resumed across it bit for bit)."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from locca_mm.compat.checkpoint_io import safe_torch_load
from locca_mm.models.heads.contrastive_head import strip_prefix
from locca_mm.models.layers import MultiCropViews
from locca_mm.models.losses import (
    distillation_loss,
    masked_prediction_loss,
    random_token_mask,
    siglip_loss,
    teacher_targets,
    update_center,
)
from locca_mm.registry import MODELS
from locca_mm.structures import TaskBatch
from locca_mm.utils import register_all_modules
from tests.conftest import ROOT, assert_same_training_state

register_all_modules()
CONFIGS = osp.join(ROOT, 'configs', 'siglip2')
FULL = osp.join(CONFIGS, 'siglip2_vit-tiny_1xb48-900it_shapes.py')
STAGE_ONE = osp.join(CONFIGS, 'siglip-locca_vit-tiny_1xb48-900it_shapes.py')


def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ------------------------------------------------------------------ losses by hand
def test_sigmoid_loss_with_bias_by_hand():
    image = F.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    text = F.normalize(torch.tensor([[0.8, 0.6], [0.0, 1.0]]), dim=-1)
    s, b = torch.tensor(10.0), torch.tensor(-3.0)
    dots = [[0.8, 0.0], [0.48 + 0.48, 0.8]]
    hand = 0.0
    for i in range(2):
        for j in range(2):
            z = 1.0 if i == j else -1.0
            hand -= math.log(1 / (1 + math.exp(-z * (10 * dots[i][j] - 3))))
    assert siglip_loss(image, text, s, b).item() == pytest.approx(hand / 2, rel=1e-5)


def test_distillation_loss_by_hand():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(3, 2, 5, generator=g)  # 3 local views of 2 images, K = 5
    teacher = torch.randn(2, 5, generator=g)
    center = torch.randn(1, 5, generator=g)
    targets = teacher_targets(teacher, center, 0.04)
    t = _np_softmax((teacher.numpy() - center.numpy()) / 0.04)
    np.testing.assert_allclose(targets.numpy(), t, rtol=1e-5)
    hand = 0.0
    for v in range(3):
        for i in range(2):
            logp = np.log(_np_softmax(student[v, i].numpy() / 0.1))
            hand += -(t[i] * logp).sum()
    assert distillation_loss(student, targets, 0.1).item() == pytest.approx(hand / 6, rel=1e-5)
    with pytest.raises(ValueError, match='do not match'):
        distillation_loss(student[:, :1], targets, 0.1)


def test_masked_prediction_counts_only_masked_patches():
    g = torch.Generator().manual_seed(1)
    student = torch.randn(2, 4, 6, generator=g)
    targets = F.softmax(torch.randn(2, 4, 6, generator=g), -1)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    loss = masked_prediction_loss(student, targets, mask, 0.1)
    ce = -(targets * F.log_softmax(student / 0.1, -1)).sum(-1)  # [2, 4]
    hand = ((ce[0, 0] + ce[0, 2]) / 2 + ce[1, 3]) / 2  # per image over its masked, then images
    assert loss.item() == pytest.approx(hand.item(), rel=1e-6)
    changed = student.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 6)  # unmasked patches do not count
    assert masked_prediction_loss(changed, targets, mask, 0.1).item() == \
        pytest.approx(loss.item(), rel=1e-6)
    # An image without masked patches is left out of the mean, not counted as 0.
    mask2 = mask.clone()
    mask2[1] = False
    assert masked_prediction_loss(student, targets, mask2, 0.1).item() == \
        pytest.approx(((ce[0, 0] + ce[0, 2]) / 2).item(), rel=1e-6)


def test_center_update_and_token_mask():
    center = torch.ones(1, 3)
    logits = torch.tensor([[[1.0, 2.0, 3.0]], [[3.0, 4.0, 5.0]]])
    update_center(center, logits, 0.9)
    torch.testing.assert_close(center, 0.9 + 0.1 * torch.tensor([[2.0, 3.0, 4.0]]))
    mask = random_token_mask(5, 16, 0.5, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (5, 16) and mask.sum(1).tolist() == [8] * 5
    assert len({tuple(r.tolist()) for r in mask}) == 5  # drawn per image
    with pytest.raises(ValueError, match='mask ratio'):
        random_token_mask(1, 4, 1.0)


def test_strip_prefix_shifts_rows_left():
    batch = TaskBatch(torch.tensor([[20, 19, 5, 6, 2], [20, 19, 7, 2, 0]]),
                      torch.tensor([2, 2]), None)
    assert strip_prefix(batch, 0).tolist() == [[5, 6, 2, 0, 0], [7, 2, 0, 0, 0]]
    no_prefix = batch._replace(prefix_len=torch.tensor([0, 0]))
    assert torch.equal(strip_prefix(no_prefix, 0), batch.tokens)


# ------------------------------------------------------------------ views and masking
def test_multi_crop_views_shapes_range_and_identity():
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    mean, std = torch.full((3, 1, 1), 127.5), torch.full((3, 1, 1), 127.5)
    views = MultiCropViews(local_size=16, num_local=4)(x, mean, std)
    assert views.global_view.shape == (3, 3, 32, 32)
    assert views.local_views.shape == (12, 3, 16, 16)
    for v in views:
        assert v.min() >= -1 - 1e-5 and v.max() <= 1 + 1e-5
    # Whole-image crops with every augmentation off give the image back.
    plain = MultiCropViews(global_scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=0.0,
                           jitter_prob=0.0, gray_prob=0.0, blur_prob=(0.0, 0.0), num_local=1,
                           local_size=32, local_scale=(1.0, 1.0))
    same = plain(x, mean, std)
    torch.testing.assert_close(same.global_view, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(same.local_views, x, atol=1e-5, rtol=0)
    flipped = MultiCropViews(global_scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_prob=1.0,
                             jitter_prob=0.0, gray_prob=0.0, blur_prob=(0.0, 0.0))(x, mean, std)
    torch.testing.assert_close(flipped.global_view, x.flip(-1), atol=1e-5, rtol=0)


def test_backbone_token_mask_replaces_embedded_patches():
    from locca_mm.models.backbones import LocCaViT
    vit = LocCaViT(arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                             feedforward_channels=64), img_size=16, patch_size=8).eval()
    x = torch.randn(2, 3, 16, 16)
    token = torch.randn(32)
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    masked = vit(x, token_mask=mask, mask_token=token)[0]
    # An image whose patch 0 is the mask token's pixels' equal: same as replacing it directly.
    plain = vit(x)[0]
    torch.testing.assert_close(masked[1], plain[1])  # the unmasked image is unchanged
    assert not torch.allclose(masked[0], plain[0])
    x2 = x.clone()
    x2[0, :, :8, :8] = torch.randn(3, 8, 8)  # the masked patch's pixels do not matter
    torch.testing.assert_close(vit(x2, token_mask=mask, mask_token=token)[0], masked)
    with pytest.raises(ValueError, match='token_mask'):
        vit(x, token_mask=mask[:, :2], mask_token=token)


# ------------------------------------------------------------------ the model
def _tiny_model(config=FULL):
    cfg = Config.fromfile(config)
    return MODELS.build(cfg.model)


def test_ema_update_and_switch_copy_the_student():
    model = _tiny_model()
    assert not model.stage_two_on and model.stage_two_active.item() is False
    model.start_stage_two()
    assert model.stage_two_on and bool(model.stage_two_active)
    for t, s in zip(model.teacher['backbone'].parameters(), model.backbone.parameters()):
        assert torch.equal(t, s) and not t.requires_grad
    teacher = [p.clone() for p in model.teacher['head'].parameters()]
    with torch.no_grad():
        for p in model.distill_head.parameters():
            p.add_(1.0)
    model.update_teacher(0.9)
    for t0, t, s in zip(teacher, model.teacher['head'].parameters(),
                        model.distill_head.parameters()):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * s)
    # The switch travels in the state dict.
    fresh = _tiny_model()
    fresh.load_state_dict(model.state_dict())
    assert fresh.stage_two_on


def test_stage_two_losses_and_gradients():
    model = _tiny_model()
    model.train()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    model.start_stage_two()
    torch.manual_seed(0)
    losses = model.stage_two_losses(x)
    assert set(losses) == {'loss_distill', 'loss_masked'}
    # weights: 1 and 0.25 times the size factor 0.25; both losses are cross-entropies >= 0
    assert all(v.item() > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert model.mask_token.grad is not None and model.mask_token.grad.abs().sum() > 0
    assert model.distill_head.prototypes.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    # Unscaled: the distillation loss is the weight-free cross-entropy times 0.25.
    cfg = model.stage_two_cfg
    assert cfg['distill_weight'] * cfg['size_factor'] == 0.25
    assert cfg['masked_weight'] * cfg['size_factor'] == 0.0625


def test_tower_zero_shot_scores_are_the_pair_logits():
    from mmengine.structures import BaseDataElement
    model = _tiny_model(STAGE_ONE).eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    names = ['a red circle', 'a blue square', 'a green triangle']
    samples = [BaseDataElement(metainfo=dict(img_path=f'{i}.png'), candidates=names,
                               task='class_scores') for i in range(2)]
    with torch.no_grad():
        out = model.predict(x, samples)
        head = model.contrastive_head
        image = head.image_embedding(model.extract_feat(x))
        seqs = [model.tokenizer.build('cap', text=t) for t in names]
        batch = TaskBatch.from_sequences(seqs, [0, 1, 2], 3, 0)
        text = head.text_embedding(captions=batch)
        want = head.logit_scale.exp() * image @ text.t() + head.logit_bias
    for i, ds in enumerate(out):
        torch.testing.assert_close(ds.pred_class_scores, want[i])
        assert ds.pred_label == int(want[i].argmax())


# ------------------------------------------------------------------ runs: switch, resume
def _cfg(tmp_path, name, iters=6, start_fraction=0.5, config=FULL, interval=2):
    cfg = Config.fromfile(config)
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = f'siglip2-{name}-{id(tmp_path)}'
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg.update(max_iters=iters, val_interval=10**6)
    cfg.param_scheduler[0]['end'] = cfg.param_scheduler[1]['begin'] = 2
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.default_hooks.checkpoint.update(interval=interval, max_keep_ckpts=10, save_best=None)
    cfg.default_hooks.logger.interval = 1
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'DataStatsHook']
    for h in cfg.custom_hooks:
        if h['type'] == 'SigLIP2StageHook':
            h['start_fraction'] = start_fraction
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    return cfg


def _train(cfg, resume_from=None):
    from mmengine.hooks import Hook
    from mmengine.runner import Runner
    if resume_from:
        cfg.resume, cfg.load_from = True, resume_from
    runner = Runner.from_cfg(cfg)
    seen = []

    class Record(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append((runner.iter, sorted(k for k in outputs if k.startswith('loss_'))))

    runner.register_hook(Record(), priority='LOWEST')
    runner.train()
    return seen


@pytest.mark.slow
def test_switch_at_the_right_step_and_exact_resume_across_it(tmp_path):
    full = _cfg(tmp_path, 'full')
    seen = _train(full)
    # 6 iterations, stage two from 50 %: iterations 0-2 without, 3-5 with the new losses
    assert [('loss_distill' in keys) for _, keys in seen] == [False] * 3 + [True] * 3
    assert 'loss_masked' in seen[3][1]
    before = safe_torch_load(str(tmp_path / 'full' / 'iter_2.pth'))
    after = safe_torch_load(str(tmp_path / 'full' / 'iter_4.pth'))
    assert not bool(before['state_dict']['stage_two_active'])
    assert bool(after['state_dict']['stage_two_active'])
    last = safe_torch_load(str(tmp_path / 'full' / 'iter_6.pth'))
    # The teacher moved away from the student (EMA), but not far.
    t, s = (last['state_dict'][f'{p}backbone.blocks.0.attn.qkv.weight'] for p in ('teacher.',
                                                                               ''))
    assert 0 < (t - s).abs().max() < 0.1
    for ckpt, name in ((tmp_path / 'full' / 'iter_2.pth', 'before'),
                       (tmp_path / 'full' / 'iter_4.pth', 'after')):
        resumed = _cfg(tmp_path, name)
        seen_r = _train(resumed, str(ckpt))
        assert seen_r == seen[len(seen) - len(seen_r):]
        assert_same_training_state(last, safe_torch_load(str(tmp_path / name / 'iter_6.pth')))


@pytest.mark.slow
def test_stage_one_config_trains_as_the_full_recipe_before_its_switch(tmp_path):
    """The SigLIP + LocCa config and the full recipe are one run until the switch (what the
    demo's branch relies on): same weights after 3 steps, bit for bit."""
    _train(_cfg(tmp_path, 'one', iters=3, config=STAGE_ONE, interval=3))
    _train(_cfg(tmp_path, 'two', iters=3, start_fraction=1.0, interval=3))
    a = safe_torch_load(str(tmp_path / 'one' / 'iter_3.pth'))['state_dict']
    b = safe_torch_load(str(tmp_path / 'two' / 'iter_3.pth'))['state_dict']
    for k, v in a.items():
        assert torch.equal(v, b[k]), k
    assert not bool(b['stage_two_active'])
