"""The fine-tuned REC protocol (configs/refcoco/rec-finetune_*): encoder and decoder start from
the pretrained LocCa and both train, the encoder with layer-wise lr decay; the frozen protocol,
run the same way, leaves the encoder bit-identical."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from tests.config_runs import _tiny_encoder_file, tiny_variant
from tests.conftest import ROOT


class _InitState(Hook):
    """The model's tensors once ``init_weights`` has run (before the first step)."""

    def before_train(self, runner) -> None:
        self.state = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def _pretrained(cfg: Config, path: str) -> dict:
    """A tiny LocCa checkpoint (encoder and decoder) of ``cfg``'s model, every float tensor
    moved off what a fresh model would hold (the zero logit layer included)."""
    _tiny_encoder_file(cfg, path)
    ckpt = torch.load(path, weights_only=True)
    gen = torch.Generator().manual_seed(1)
    ckpt['state_dict'] = {
        k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in ckpt['state_dict'].items()}
    torch.save(ckpt, path)
    return ckpt['state_dict']


def _train(config: str, tmp_path):
    """2 iterations (and one validation) of the config's tiny variant: (cfg, runner,
    checkpoint tensors, tensors after init, tensors after training)."""
    from mmengine.runner import Runner
    ckpt = str(tmp_path / 'locca_tiny.pth')
    cfg = tiny_variant(Config.fromfile(osp.join(ROOT, 'configs', 'refcoco', config)),
                       str(tmp_path / 'work'), ckpt)
    pretrained = _pretrained(cfg, ckpt)
    runner = Runner.from_cfg(cfg)
    init = _InitState()
    runner.register_hook(init)
    runner.train()
    after = {k: v.detach() for k, v in runner.model.state_dict().items()}
    return cfg, runner, pretrained, init.state, after


def _moved(before: dict, after: dict, prefix: str) -> set:
    return {k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])}


@pytest.mark.parametrize('config', [
    'rec-finetune_locca-vit-b_refcoco.py',
    pytest.param('rec-finetune_locca-vit-b_refcoco-union.py', marks=pytest.mark.slow)])
def test_finetuning_starts_from_the_pretrained_model_and_changes_the_encoder(config, tmp_path):
    cfg, runner, pretrained, init, after = _train(config, tmp_path)
    assert runner.iter == 2
    # Both halves come from the checkpoint: the encoder and the pretrained decoder.
    assert any(k.startswith('head.decoder.') for k in pretrained)
    for k, v in pretrained.items():
        assert torch.equal(init[k], v), k
    # Both train: every encoder block (the first with the smallest lr), the patch embedding
    # and the decoder moved in 2 iterations.
    depth = cfg.model.backbone.arch['num_layers']
    moved = _moved(init, after, 'backbone.')
    for i in range(depth):
        assert any(k.startswith(f'backbone.blocks.{i}.') for k in moved), i
    assert 'backbone.patch_embed.proj.weight' in moved
    assert _moved(init, after, 'head.decoder.blocks.')
    assert all(p.requires_grad for p in runner.model.backbone.parameters())
    # Layer-wise decay: block i at rate^(depth - i) of the decoder's lr.
    lrs = {g['param_name']: g['lr'] for g in runner.optim_wrapper.optimizer.param_groups}
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    top = lrs['head.decoder.logit_layer.weight']
    assert rate < 1 and top > 0
    for i in range(depth):
        assert lrs[f'backbone.blocks.{i}.attn.qkv.weight'] == pytest.approx(
            top * rate**(depth - i), rel=1e-9)
    assert lrs['backbone.patch_embed.proj.weight'] == pytest.approx(top * rate**(depth + 1))


def test_the_frozen_protocol_run_the_same_way_keeps_the_encoder(tmp_path):
    _, runner, pretrained, init, after = _train('rec-frozen_locca-vit-b_refcoco.py', tmp_path)
    assert runner.iter == 2
    backbone = [k for k in after if k.startswith('backbone.')]
    assert backbone and all(torch.equal(after[k], pretrained[k]) for k in backbone)
    # Its decoder is fresh (the zero logit layer of a new one, nothing read) and trains.
    assert not any(k.startswith('head.') for k in pretrained)
    k = 'head.decoder.logit_layer.weight'
    assert not init[k].any() and after[k].any()
