"""Layer-wise lr decay in the transfer configs: block i gets base · rate^(L - 2 - i)."""
import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from .utils import ARCH, config_path


@pytest.mark.parametrize('name,scope,rate', [
    ('mmdet/mask-rcnn_locca-vit-b_simplefpn_lsj-100e_coco.py', 'mmdet', 0.7),
    ('mmseg/upernet_locca-vit-b_ade20k-512x512.py', 'mmseg', 0.65),
    ('mmseg/linear-finetune_locca-vit-b_ade20k-512x512.py', 'mmseg', 0.65),
])
def test_block_lr_follows_the_configured_decay(name, scope, rate):
    cfg = Config.fromfile(config_path(name))
    model_cfg = cfg.model
    model_cfg.backbone.update(arch=ARCH, img_size=64, init_cfg=None)
    d = ARCH['embed_dims']
    if scope == 'mmdet':
        model_cfg.neck.update(backbone_channel=d, in_channels=[d // 4, d // 2, d, d])
    elif model_cfg.neck is None:  # a linear head on the last block's tokens
        model_cfg.decode_head.update(in_channels=d, channels=d)
    else:
        model_cfg.backbone.out_indices = (0, 1, 2, 3)
        model_cfg.neck.embed_dim = d
        model_cfg.decode_head.update(in_channels=[d] * 4, channels=16)
        model_cfg.auxiliary_head.update(in_channels=d, channels=16)
    with DefaultScope.overwrite_default_scope(scope):
        from mmengine.registry import MODELS
        model = MODELS.build(model_cfg)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    base = cfg.optim_wrapper.optimizer.lr
    num_layers = ARCH['num_layers'] + 2  # L: embeddings at depth 0, block i at i + 1
    groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
    assert set(groups) == {n for n, p in model.named_parameters() if p.requires_grad}
    seen_blocks = set()
    for name_, group in groups.items():
        if name_.startswith('backbone.blocks.'):
            i = int(name_.split('.')[2])
            seen_blocks.add(i)
            expected = base * rate**(num_layers - 1 - (i + 1))
        elif name_.startswith(('backbone.patch_embed', 'backbone.pos_embed')):
            expected = base * rate**(num_layers - 1)
        else:  # the final norm, the neck and the heads
            expected = base
        assert group['lr'] == pytest.approx(expected, rel=1e-12, abs=0), name_
    assert seen_blocks == set(range(ARCH['num_layers']))
    # The last block is one decay step below the heads, the first block L - 2 steps.
    assert groups['backbone.blocks.3.attn.qkv.weight']['lr'] == pytest.approx(base * rate)
    assert groups['backbone.blocks.0.mlp.fc1.weight']['lr'] == pytest.approx(base * rate**4)
    assert groups['backbone.norm.weight']['lr'] == base
    assert groups['backbone.pos_embed']['weight_decay'] == 0.0
    assert groups['backbone.blocks.0.attn.qkv.weight']['weight_decay'] == \
        cfg.optim_wrapper.optimizer.weight_decay
