"""Encoder-only checkpoints (utils/encoder_checkpoint.py): pick, describe, write, read."""
import pytest
import torch

from locca_mm.utils.encoder_checkpoint import (
    describe_encoder,
    encoder_state,
    read_state_dict,
    save_encoder,
)


def _vit_state(dim=8, layers=2, patch=4, grid=3) -> dict:
    state = {'patch_embed.proj.weight': torch.randn(dim, 3, patch, patch),
             'pos_embed': torch.randn(1, grid * grid, dim)}
    for i in range(layers):
        state[f'blocks.{i}.mlp.fc1.weight'] = torch.randn(4 * dim, dim)
    return state


def test_encoder_state_strips_the_prefix_and_names_what_is_there():
    full = {'backbone.a': torch.ones(1), 'head.b': torch.zeros(1)}
    assert list(encoder_state(full)) == ['a']
    with pytest.raises(KeyError, match=r"'head.' \(1\)"):
        encoder_state({'head.b': torch.zeros(1)})


def test_describe_encoder_reads_the_arch_from_the_shapes():
    facts = describe_encoder(_vit_state())
    assert facts == dict(embed_dims=8, num_layers=2, feedforward_channels=32, patch_size=4,
                         in_channels=3, grid=[3, 3], pos_embed='learn', with_cls_token=False)
    with pytest.raises(KeyError, match='not a LocCaViT encoder'):
        describe_encoder({'x': torch.ones(1)})


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_saved_encoder_reads_back_under_the_backbone_prefix(tmp_path, suffix):
    if suffix == '.safetensors':
        pytest.importorskip('safetensors')
    state = _vit_state()
    out = save_encoder(state, str(tmp_path / 'sub' / f'encoder{suffix}'), meta=dict(step=3))
    read = read_state_dict(out)
    assert set(read) == {'backbone.' + k for k in state}
    for k, v in state.items():
        assert torch.equal(read['backbone.' + k], v)
    if suffix == '.pth':
        assert torch.load(out, weights_only=True)['meta'] == dict(step=3)
