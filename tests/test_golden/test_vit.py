"""big_vision's ViT (models/vit.py) == big_vision_to_locca + LocCaViT, within 1e-5."""
import pytest
import torch

from locca_mm.models.backbones.converters import FLAX_GELU, big_vision_to_locca, build_encoder

from . import load_golden, params_of

FILES = ['vit_learn_map.npz', 'vit_sincos_scan.npz']


def _tokens(model, arrays):
    images = torch.from_numpy(arrays['input/images']).permute(0, 3, 1, 2)  # NHWC -> NCHW
    with torch.no_grad():
        return model(images)[0]


@pytest.mark.parametrize('name', FILES)
def test_converted_locca_vit_gives_big_vision_tokens(name):
    arrays, config = load_golden(name)
    converted = big_vision_to_locca(params_of(arrays))
    args = converted.backbone
    assert args['act_cfg'] == FLAX_GELU
    assert args['pos_embed'] == config['posemb'] and args['patch_size'] == config['patch_size'][0]
    assert args['arch'] == dict(embed_dims=config['width'], num_layers=config['depth'],
                                num_heads=config['num_heads'],
                                feedforward_channels=config['mlp_dim'])
    if config['pool_type'] == 'map':
        assert any('MAPHead_0' in note for note in converted.notes)
    expected = torch.from_numpy(arrays['output/encoded'])
    err = (_tokens(build_encoder(converted), arrays) - expected).abs().max().item()
    print(f'{name}: max |LocCaViT - big_vision| = {err:.3g}')
    assert err < 1e-5
    # The activation matters at this tolerance: the exact GELU does not reproduce it.
    exact = build_encoder(converted, act_cfg=None)
    assert (_tokens(exact, arrays) - expected).abs().max() > 1e-5
