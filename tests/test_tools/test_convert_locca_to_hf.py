"""tools/model_converters/locca_to_hf.py: a LocCaViT (and MAP pooler) as a directory that
``transformers.SiglipVisionModel.from_pretrained`` loads, with the same features."""
import pytest
import torch

from locca_mm.models import LocCaViT, MAPNeck
from locca_mm.models.backbones.converters import hf_siglip_to_locca, locca_to_hf
from locca_mm.utils.encoder_checkpoint import save_encoder
from tests.conftest import run_tool, tool_error

transformers = pytest.importorskip('transformers')

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256)
SIZE, PATCH = 32, 8
TANH = dict(type='GELU', approximate='tanh')
CONFIG = f"""
model = dict(
    type='ImageClassifier',
    backbone=dict(type='locca_mm.LocCaViT', arch={ARCH!r}, img_size={SIZE},
                  patch_size={PATCH}, out_type='featmap', act_cfg={TANH!r}),
    neck=dict(type='locca_mm.MAPNeck', in_channels=64, num_heads=2, act_cfg={TANH!r}),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
data_preprocessor = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
"""


def _perturbed(*modules):
    """Random non-zero biases and norms too (the init zeroes them), in eval mode."""
    with torch.no_grad():
        for m in modules:
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    return [m.eval() for m in modules]


def _run(*argv):
    return run_tool(['model_converters/locca_to_hf.py', *map(str, argv)])


def test_round_trip_through_from_pretrained(tmp_path):
    """Probe checkpoint + config -> directory; from_pretrained gives our tokens and MAP
    vector, the image processor our input, and hf_siglip_to_locca our tensors back."""
    from transformers import SiglipImageProcessor, SiglipVisionModel
    torch.manual_seed(0)
    backbone, neck = _perturbed(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH,
                                         act_cfg=TANH), MAPNeck(64, num_heads=2, act_cfg=TANH))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({f'neck.{k}': v for k, v in neck.state_dict().items()})
    src, config, out = tmp_path / 'probe.pth', tmp_path / 'cfg.py', tmp_path / 'hf'
    torch.save({'state_dict': state}, src)
    config.write_text(CONFIG)
    proc = _run(src, out, '--config', config, '--check')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.split('SiglipVisionModel| = ')[1].split()[0]) < 1e-5
    model = SiglipVisionModel.from_pretrained(str(out)).eval()
    assert model.config.hidden_act == 'gelu_pytorch_tanh' and model.config.image_size == SIZE
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        theirs = model(pixel_values=x)
        tokens = backbone(x)[0]
        assert (theirs.last_hidden_state - tokens).abs().max() < 1e-5
        assert (theirs.pooler_output - neck(tokens)[0]).abs().max() < 1e-5
    processor = SiglipImageProcessor.from_pretrained(str(out))
    assert processor.image_mean == pytest.approx([0.485, 0.456, 0.406])
    assert processor.size == dict(height=SIZE, width=SIZE)
    back = hf_siglip_to_locca(model.state_dict(), model.config.to_dict(), keep_pool=True)
    assert back.backbone['act_cfg'] == TANH
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in back.state_dict.items())
    assert all(torch.equal(v, neck.pool.state_dict()[k]) for k, v in back.pool.items())


def test_encoder_file_without_pooler_and_sincos(tmp_path):
    """No pooler: vision_use_head=False; a sin-cos table is written out as the learned one."""
    from transformers import SiglipVisionModel
    torch.manual_seed(1)
    backbone, = _perturbed(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH,
                                    pos_embed='sincos2d'))
    src, out = tmp_path / 'encoder.pth', tmp_path / 'hf'
    save_encoder(backbone.state_dict(), str(src), dict(source='test'))
    proc = _run(src, out, '--num-heads', 2, '--img-size', SIZE, '--check')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'vision_use_head=False' in proc.stdout and 'sin-cos' in proc.stdout
    model = SiglipVisionModel.from_pretrained(str(out)).eval()
    assert model.config.hidden_act == 'gelu' and model.vision_model.use_head is False
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert (model(pixel_values=x).last_hidden_state - backbone(x)[0]).abs().max() < 1e-5


@pytest.mark.parametrize('kwargs,message', [
    (dict(with_cls_token=True), 'class token'),
    (dict(final_norm=False), 'post_layernorm'),
    (dict(window_size=2), 'window attention'),
])
def test_what_siglip_cannot_express_is_named(kwargs, message):
    backbone = LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH, **kwargs)
    with pytest.raises(ValueError, match=message):
        locca_to_hf(backbone.state_dict(), dict(arch=ARCH, **kwargs))


def test_pooler_unlike_the_encoder_is_named(tmp_path):
    backbone = LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH)
    state = backbone.state_dict()
    with pytest.raises(ValueError, match='MAP pooler has 4 heads, the encoder 2'):
        locca_to_hf(state, dict(arch=ARCH), MAPNeck(64, 4).pool.state_dict(), 4, None)
    with pytest.raises(ValueError, match="pooler's activation .* differs"):
        locca_to_hf(state, dict(arch=ARCH), MAPNeck(64, 2).pool.state_dict(), 2, TANH)
    with pytest.raises(ValueError, match='MLP width 128 differs'):
        locca_to_hf(state, dict(arch=ARCH), MAPNeck(64, 2, mlp_ratio=2).pool.state_dict(), 2,
                    None)
    with pytest.raises(ValueError, match=r"act_cfg=\{'type': 'ReLU'\}"):
        locca_to_hf(state, dict(arch=ARCH, act_cfg=dict(type='ReLU')))
    # Through the tool: one error line naming the file.
    src = tmp_path / 'cls.pth'
    save_encoder(LocCaViT(arch=ARCH, img_size=SIZE, patch_size=PATCH,
                          with_cls_token=True).state_dict(), str(src))
    err = tool_error(_run(src, tmp_path / 'hf', '--num-heads', 2))
    assert str(src) in err and 'class token' in err
    assert not (tmp_path / 'hf').exists()
