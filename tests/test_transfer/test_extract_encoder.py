"""tools/model_converters/extract_encoder.py: the encoder of a LocCa checkpoint, loadable by the
transfer configs."""
import json

import pytest
import torch
from safetensors import safe_open

from locca_mm.models import LocCaViT
from tests.conftest import run_tool

from .utils import ARCH, PATCH, PRETRAIN_SIZE


def _init_from(path, **kwargs):
    model = LocCaViT(arch=ARCH, patch_size=PATCH, img_size=PRETRAIN_SIZE, out_type='featmap',
                     init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'),
                     **kwargs)
    model.init_weights()
    return model


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_extracted_encoder_equals_the_checkpoints(tmp_path, locca_checkpoint, suffix):
    path, encoder = locca_checkpoint
    out = str(tmp_path / f'encoder{suffix}')
    argv = [path, out] + (['--safetensors'] if suffix == '.safetensors' else [])
    proc = run_tool(['model_converters/extract_encoder.py', *argv])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'wrote {out}' in proc.stdout

    if suffix == '.pth':
        saved = torch.load(out, weights_only=True)  # tensors and plain values only
        state, meta = saved['state_dict'], saved['meta']
    else:
        with safe_open(out, 'pt') as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads(f.metadata()['locca_mm'])
    full = torch.load(path, weights_only=True)['state_dict']
    assert set(state) == {k for k in full if k.startswith('backbone.')}
    assert all(torch.equal(state[k], full[k]) for k in state)
    assert meta['encoder'] == dict(embed_dims=32, num_layers=4, feedforward_channels=64,
                                   patch_size=PATCH, in_channels=3, grid=[4, 4],
                                   pos_embed='learn', with_cls_token=False)
    # The config line that loads a full checkpoint loads the extracted file too, with windows.
    model = _init_from(out, window_size=2, global_attn_indexes=(3, ))
    assert all(torch.equal(v, encoder[k]) for k, v in model.state_dict().items())
