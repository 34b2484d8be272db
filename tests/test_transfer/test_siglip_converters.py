"""SigLIP / SigLIP 2 in: timm, Hugging Face and big_vision towers (random weights, tiny
widths, their own sizes) give LocCaViT the same tokens and MAPNeck the same pooled vector
(within 1e-5), and their position tables resample as timm / Hugging Face resample them."""
import json

import numpy as np
import pytest
import torch

from locca_mm.models import LocCaViT, MAPNeck
from locca_mm.models.backbones.converters import (
    NAFLEX_ERROR,
    big_vision_to_locca,
    build_encoder,
    build_pool,
    hf_siglip_to_locca,
    timm_to_locca,
)
from locca_mm.models.backbones.converters.from_hf import load_hf_checkpoint
from tests.conftest import run_tool, tool_error

from .test_converters import to_big_vision

timm = pytest.importorskip('timm')
transformers = pytest.importorskip('transformers')

TINY = dict(embed_dim=32, depth=2, num_heads=2)  # timm's arguments
HF_TINY = dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
TANH = dict(type='GELU', approximate='tanh')


def _perturb(model, scale=0.05):
    """Random non-zero biases, norms and tables too (the inits zero some), in eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model.eval()


def _timm_siglip(name: str, scale: float = 0.05, **kwargs):
    return _perturb(timm.create_model(name, pretrained=False, num_classes=0, **TINY, **kwargs),
                    scale)


def _hf_vision(image_size: int):
    from transformers import SiglipVisionConfig, SiglipVisionModel
    config = SiglipVisionConfig(image_size=image_size, patch_size=16, **HF_TINY)
    return _perturb(SiglipVisionModel(config)), config.to_dict()


def _hf_siglip_model(image_size: int = 224):
    """A SigLIP 2 fixed-resolution model as google/siglip2-*-<size> ships it: SiglipModel."""
    from transformers import SiglipConfig, SiglipModel
    config = SiglipConfig(
        vision_config=dict(image_size=image_size, patch_size=16, **HF_TINY),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, vocab_size=64, max_position_embeddings=16))
    return _perturb(SiglipModel(config)), config


def _max_diff(a, b) -> float:
    return float((a - b).detach().abs().max())


@pytest.mark.parametrize('name,size', [
    ('vit_base_patch16_siglip_224', 224),  # SigLIP B/16
    ('vit_base_patch16_siglip_256', 256),
    ('vit_base_patch16_siglip_224.v2_webli', 224),  # SigLIP 2 B/16 (the same architecture)
])
def test_timm_siglip_tokens_and_map_vector(name, size):
    ref = _timm_siglip(name)
    converted = timm_to_locca(ref.state_dict(), num_heads=2, keep_pool=True)
    assert converted.backbone['img_size'] == size and not converted.backbone['with_cls_token']
    assert converted.neck == dict(in_channels=32, num_heads=2, mlp_ratio=4.0, act_cfg=None)
    encoder, neck = build_encoder(converted), build_pool(converted)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        features = ref.forward_features(x)
        tokens = encoder(x)[0]
        assert _max_diff(tokens, features) < 1e-5
        assert _max_diff(neck(tokens)[0], ref.forward_head(features, pre_logits=True)) < 1e-5
    # Without keep_pool the pooler is dropped, as before.
    assert not timm_to_locca(ref.state_dict(), num_heads=2).pool


def test_timm_tanh_gelu_goes_to_encoder_and_pooler():
    """vit_base_patch32_siglip_256 uses act_layer='gelu_tanh': the act_cfg both need."""
    ref = _timm_siglip('vit_base_patch32_siglip_256', scale=0.5)  # large MLP inputs
    converted = timm_to_locca(ref.state_dict(), num_heads=2, keep_pool=True, act_cfg=TANH)
    assert converted.backbone['act_cfg'] == TANH and converted.neck['act_cfg'] == TANH
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        features = ref.forward_features(x)
        tokens = build_encoder(converted)(x)[0]
        pooled = build_pool(converted)(tokens)[0]
        exact = build_encoder(timm_to_locca(ref.state_dict(), num_heads=2))(x)[0]
    assert _max_diff(tokens, features) < 1e-5
    assert _max_diff(pooled, ref.forward_head(features, pre_logits=True)) < 1e-5
    assert _max_diff(exact, features) > 1e-4  # the activation matters


@pytest.mark.parametrize('src,dst', [(224, 256), (256, 224)])
def test_timm_resampling_is_timms_own(src, dst):
    """A 224 table at 256 (and back): timm's resample_abs_pos_embed, and the features of
    timm's model of the new size loading the checkpoint its own way."""
    from timm.layers import resample_abs_pos_embed
    from timm.models.vision_transformer import checkpoint_filter_fn
    ref = _timm_siglip(f'vit_base_patch16_siglip_{src}')
    converted = timm_to_locca(ref.state_dict(), num_heads=2, keep_pool=True)
    resized = converted.at_img_size(dst, method='timm')
    g = dst // 16
    expected = resample_abs_pos_embed(ref.pos_embed.detach(), [g, g], num_prefix_tokens=0)
    assert _max_diff(resized.state_dict['pos_embed'], expected) < 1e-6
    assert resized.backbone['img_size'] == dst and "resample_abs_pos_embed" in resized.notes[-1]
    other = timm.create_model(f'vit_base_patch16_siglip_{src}', pretrained=False, num_classes=0,
                              img_size=dst, **TINY).eval()
    other.load_state_dict(checkpoint_filter_fn(ref.state_dict(), other))
    x = torch.randn(2, 3, dst, dst)
    with torch.no_grad():
        features = other.forward_features(x)
        tokens = build_encoder(resized)(x)[0]
        assert _max_diff(tokens, features) < 1e-5
        assert _max_diff(build_pool(resized)(tokens)[0],
                         other.forward_head(features, pre_logits=True)) < 1e-5
        # LocCaViT's own bicubic resampling (no antialiasing) is another table.
        bicubic = build_encoder(converted.at_img_size(dst, method='bicubic'))(x)[0]
    assert _max_diff(bicubic, features) > 1e-4


@pytest.mark.parametrize('size', [224, 256])
def test_hf_siglip_vision_model_tokens_map_and_resampling(size):
    ref, config = _hf_vision(size)
    converted = hf_siglip_to_locca(ref.state_dict(), config, keep_pool=True)
    assert converted.backbone['act_cfg'] == TANH and converted.neck['act_cfg'] == TANH
    assert converted.backbone['arch']['num_heads'] == 2
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = ref(pixel_values=x)
        tokens = build_encoder(converted)(x)[0]
        assert _max_diff(tokens, out.last_hidden_state) < 1e-5
        assert _max_diff(build_pool(converted)(tokens)[0], out.pooler_output) < 1e-5
        # At another size: Hugging Face's interpolate_pos_encoding is LocCaViT's bicubic.
        other = 480 - size
        y = torch.randn(2, 3, other, other)
        out = ref(pixel_values=y, interpolate_pos_encoding=True)
        resized = converted.at_img_size(other)
        tokens = build_encoder(resized)(y)[0]
        assert _max_diff(tokens, out.last_hidden_state) < 1e-5
        assert _max_diff(build_pool(resized)(tokens)[0], out.pooler_output) < 1e-5
    # ... and the 'timm' method is timm's resample_abs_pos_embed on the same table.
    from timm.layers import resample_abs_pos_embed
    table = ref.vision_model.embeddings.position_embedding.weight.detach()[None]
    g = other // 16
    assert _max_diff(converted.at_img_size(other, 'timm').state_dict['pos_embed'],
                     resample_abs_pos_embed(table, [g, g], num_prefix_tokens=0)) < 1e-6


def test_hf_siglip2_directory_through_the_tool(tmp_path):
    """A SiglipModel directory (SigLIP 2 fixed resolution: google/siglip2-*-<size>'s layout):
    the text tower ignored, --check at 224 and at 256, the file loads into LocCaViT and
    MAPNeck through their Pretrained init_cfg."""
    model, config = _hf_siglip_model(224)
    model.save_pretrained(tmp_path / 'siglip2')
    out = tmp_path / 'encoder.safetensors'
    proc = run_tool(['model_converters/hf_siglip.py', str(tmp_path / 'siglip2'), str(out),
                     '--keep-pool', '--img-size', '256', '--check'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    diffs = [float(line.split('= ')[1].split()[0]) for line in proc.stdout.splitlines()
             if line.startswith('check:')]
    assert len(diffs) == 2 and max(diffs) < 1e-5, proc.stdout
    assert 'parameters outside it ignored' in proc.stdout
    args = dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128),
                img_size=256, patch_size=16, act_cfg=TANH)
    encoder = LocCaViT(**args, init_cfg=dict(type='Pretrained', checkpoint=str(out),
                                             prefix='backbone.'))
    neck = MAPNeck(32, num_heads=2, act_cfg=TANH,
                   init_cfg=dict(type='Pretrained', checkpoint=str(out), prefix='neck.'))
    encoder.init_weights()
    neck.init_weights()
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        ref = model.vision_model(pixel_values=x, interpolate_pos_encoding=True)
        tokens = encoder.eval()(x)[0]
        assert _max_diff(tokens, ref.last_hidden_state) < 1e-5
        assert _max_diff(neck.eval()(tokens)[0], ref.pooler_output) < 1e-5


def test_map_neck_load_is_strict(tmp_path):
    ref = _timm_siglip('vit_base_patch16_siglip_224')
    out = tmp_path / 'encoder.pth'
    proc = run_tool(['model_converters/timm_vit.py', '--model', 'vit_base_patch16_siglip_224',
                     str(out), '--keep-pool'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    del ref
    wide = MAPNeck(64, num_heads=2, init_cfg=dict(type='Pretrained', checkpoint=str(out),
                                                  prefix='neck.'))
    with pytest.raises(ValueError, match=r'pool\.query: checkpoint \(1, 1, 768\) vs model'):
        wide.init_weights()
    with pytest.raises(KeyError, match="no parameters under the prefix 'head.'"):
        MAPNeck(768, init_cfg=dict(type='Pretrained', checkpoint=str(out),
                                   prefix='head.')).init_weights()


def _write_unsafe(path):
    """A pickle that needs code to load (an argparse.Namespace beside the tensors)."""
    import argparse
    torch.save({'vision_model.embeddings.patch_embedding.weight': torch.zeros(32, 3, 16, 16),
                'args': argparse.Namespace(lr=1)}, path)


def test_files_that_need_code_are_refused_with_the_remedy(tmp_path):
    folder = tmp_path / 'hf'
    folder.mkdir()
    _write_unsafe(folder / 'pytorch_model.bin')
    (folder / 'config.json').write_text(json.dumps(dict(model_type='siglip')))
    err = tool_error(run_tool(['model_converters/hf_siglip.py', str(folder),
                               str(tmp_path / 'out.pth')]))
    assert 'refusing to load' in err and 'pytorch_model.bin' in err
    assert 'weights_only=False' in err and 'argparse.Namespace' in err
    err = tool_error(run_tool(['model_converters/timm_vit.py', str(folder / 'pytorch_model.bin'),
                               str(tmp_path / 'out.pth')]))
    assert 'refusing to load' in err and 'weights_only=False' in err
    assert not (tmp_path / 'out.pth').exists()
    # A weights-only pickle of the same model reads.
    model, config = _hf_vision(224)
    torch.save(model.state_dict(), folder / 'pytorch_model.bin')
    (folder / 'config.json').write_text(json.dumps(config))
    state, read_config = load_hf_checkpoint(str(folder))
    assert read_config['hidden_size'] == 32
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_naflex_is_refused_by_name():
    naflex = timm.create_model('naflexvit_base_patch16_map', pretrained=False, num_classes=0,
                               embed_dim=32, depth=1, num_heads=2)
    with pytest.raises(KeyError, match='NaFlex'):
        timm_to_locca(naflex.state_dict())
    model, config = _hf_vision(224)
    with pytest.raises(ValueError, match='NaFlex'):
        hf_siglip_to_locca(model.state_dict(), dict(config, model_type='siglip2_vision_model'))
    state = dict(model.state_dict())
    state['vision_model.embeddings.patch_embedding.weight'] = torch.zeros(32, 768)
    with pytest.raises(KeyError, match='is a linear layer: NaFlex'):
        hf_siglip_to_locca(state, config)
    params = {'params/img/embedding/kernel': np.zeros((768, 32), np.float32)}
    with pytest.raises(KeyError, match='dense layer over flattened patches: NaFlex'):
        big_vision_to_locca(params)
    assert 'fixed-resolution SigLIP 2' in NAFLEX_ERROR


def _map_head_params(pool, heads: int) -> dict:
    """An AttentionPool in big_vision's MAPHead_0 names and flax layouts."""
    s = {k: v.detach().numpy() for k, v in pool.state_dict().items()}
    d = s['query'].shape[-1]
    att = 'MAPHead_0/MultiHeadDotProductAttention_0/'
    kv_w, kv_b = s['attn.kv.weight'].reshape(2, d, d), s['attn.kv.bias'].reshape(2, d)
    out = {'MAPHead_0/probe': s['query'],
           att + 'query/kernel': s['attn.q.weight'].T.reshape(d, heads, d // heads),
           att + 'query/bias': s['attn.q.bias'].reshape(heads, d // heads),
           att + 'out/kernel': s['attn.proj.weight'].T.reshape(heads, d // heads, d),
           att + 'out/bias': s['attn.proj.bias'],
           'MAPHead_0/LayerNorm_0/scale': s['norm.weight'],
           'MAPHead_0/LayerNorm_0/bias': s['norm.bias']}
    for j, n in enumerate(('key', 'value')):
        out[f'{att}{n}/kernel'] = kv_w[j].T.reshape(d, heads, d // heads)
        out[f'{att}{n}/bias'] = kv_b[j].reshape(heads, d // heads)
    for j in (0, 1):
        out[f'MAPHead_0/MlpBlock_0/Dense_{j}/kernel'] = s[f'mlp.fc{j + 1}.weight'].T
        out[f'MAPHead_0/MlpBlock_0/Dense_{j}/bias'] = s[f'mlp.fc{j + 1}.bias']
    return {'params/img/' + k: np.ascontiguousarray(v) for k, v in out.items()}


def test_big_vision_siglip2_npz_with_its_map_head(tmp_path):
    """A SigLIP 2 image tower in big_vision's layout, read by timm's own .npz loader and by
    ours: the same tokens and MAP vector (flax's tanh GELU in both)."""
    from timm.models.vision_transformer import _load_weights
    torch.manual_seed(0)
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=128)
    source = _perturb(LocCaViT(arch=arch, img_size=64, patch_size=16, act_cfg=TANH))
    pool = _perturb(MAPNeck(32, num_heads=2, act_cfg=TANH)).pool
    params = dict(to_big_vision(source), **_map_head_params(pool, 2))
    npz = tmp_path / 'siglip2_b16.npz'
    np.savez(npz, **params)
    ref = timm.create_model('vit_base_patch16_siglip_224', pretrained=False, num_classes=0,
                            img_size=64, act_layer='gelu_tanh', **TINY).eval()
    _load_weights(ref, str(npz))
    converted = big_vision_to_locca(dict(np.load(npz)), keep_pool=True)
    assert converted.neck == dict(in_channels=32, num_heads=2, mlp_ratio=4.0, act_cfg=TANH)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = ref.forward_features(x)
        tokens = build_encoder(converted)(x)[0]
        assert _max_diff(tokens, features) < 1e-5
        assert _max_diff(build_pool(converted)(tokens)[0],
                         ref.forward_head(features, pre_logits=True)) < 1e-5
    proc = run_tool(['model_converters/big_vision_vit.py', str(npz), str(tmp_path / 'e.pth'),
                     '--keep-pool'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MAPNeck arguments (prefix 'neck.')" in proc.stdout
    saved = torch.load(tmp_path / 'e.pth', weights_only=True)['state_dict']
    assert torch.equal(saved['neck.pool.query'], pool.query.detach())
    with pytest.raises(KeyError, match='keep_pool: no MAP head'):
        big_vision_to_locca(to_big_vision(source), keep_pool=True)


def test_timm_tool_keeps_the_pool_and_checks_the_new_size(tmp_path):
    out = tmp_path / 'siglip.safetensors'
    proc = run_tool(['model_converters/timm_vit.py', '--model', 'vit_base_patch16_siglip_224',
                     str(out), '--keep-pool', '--img-size', '256', '--check'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    diffs = [float(line.split('= ')[1].split()[0]) for line in proc.stdout.splitlines()
             if line.startswith('check:')]
    assert len(diffs) == 2 and max(diffs) < 1e-5, proc.stdout
    from safetensors.torch import load_file
    state = load_file(str(out))
    assert state['backbone.pos_embed'].shape == (1, 256, 768)
    assert state['neck.pool.query'].shape == (1, 1, 768)


def test_hf_siglip_model_both_towers_into_siglip2_score_as_hf():
    """A whole SiglipModel -> SigLIP2's towers (encoder, MAP pooler, SigLIPTextEncoder,
    logit scale and bias): the same image and text embeddings and pair logits."""
    from locca_mm.models.backbones.converters import hf_siglip_to_siglip2
    from locca_mm.models.heads import ContrastiveHead
    from locca_mm.registry import MODELS
    ref, config = _hf_siglip_model(32)
    state, overrides, notes = hf_siglip_to_siglip2(ref.state_dict(), config.to_dict())
    backbone = LocCaViT(**overrides['backbone']).eval()
    backbone.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith('backbone.')})
    head_cfg = dict(overrides['contrastive_head'])
    text_cfg = head_cfg.pop('text_encoder')
    head_cfg.pop('type')
    head = ContrastiveHead(embed_dims=32, **head_cfg).eval()
    head.text_encoder = MODELS.build(text_cfg, default_args=dict(vocab_size=64 + 8, pad_id=1))
    missing = head.load_state_dict({k[17:]: v for k, v in state.items()
                                    if k.startswith('contrastive_head.')}, strict=True)
    assert not missing.missing_keys
    torch.manual_seed(1)
    images = torch.randn(2, 3, 32, 32)
    ids = torch.randint(2, 64, (3, 16))  # SigLIP texts: padded to max_len, read whole
    with torch.no_grad():
        out = ref(input_ids=ids, pixel_values=images)
        image = head.image_embedding(backbone(images)[-1])
        text = head.text_embedding(captions=None, text_features=head.text_encoder
                                   .text_embedding(ids))
        logits = head.logits(image, text)
    assert _max_diff(image, out.image_embeds) < 1e-5
    assert _max_diff(text, out.text_embeds) < 1e-5
    assert _max_diff(logits, out.logits_per_image) < 1e-4
    # The tokenizer's extra (location) rows keep their init; the vocabulary's rows load.
    table = head.text_encoder.token_embed.weight
    assert table.shape[0] == 72 and torch.equal(
        table[:64], ref.text_model.embeddings.token_embedding.weight)
    assert any('text tower' in n for n in notes)


def test_siglip2_towers_through_the_tool_load_into_a_siglip2_model(tmp_path):
    """hf_siglip.py --siglip2-towers: a .pth whose towers load into a SigLIP2 model built with
    the printed settings (every tower key present; the decoder stays the model's own), and
    the model's image embedding is Hugging Face's."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from locca_mm.registry import MODELS
    from locca_mm.utils import register_all_modules
    from tests.conftest import ROOT
    register_all_modules()
    model, _ = _hf_siglip_model(32)
    model.save_pretrained(tmp_path / 'siglip2')
    out = tmp_path / 'towers.pth'
    proc = run_tool(['model_converters/hf_siglip.py', str(tmp_path / 'siglip2'), str(out),
                     '--siglip2-towers'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout[proc.stdout.index('{'):]
    overrides = json.loads(printed)
    assert overrides['contrastive_head']['text_encoder']['type'] == 'SigLIPTextEncoder'
    cfg = Config.fromfile(f'{ROOT}/configs/siglip2/siglip-locca_vit-tiny_1xb48-900it_shapes.py')
    siglip2 = MODELS.build(dict(cfg.model.to_dict(),
                                backbone=dict(cfg.model.backbone.to_dict(),
                                              **overrides['backbone']),
                                contrastive_head=overrides['contrastive_head'],
                                head=dict(cfg.model.head.to_dict(), decoder=dict(
                                    cfg.model.head.decoder.to_dict(), embed_dims=32,
                                    num_heads=2)))).eval()
    ckpt = torch.load(out, weights_only=True)
    towers = ckpt['state_dict']
    assert not [k for k in towers if k not in siglip2.state_dict()]
    load_checkpoint(siglip2, str(out), map_location='cpu', logger='silent')
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = siglip2.contrastive_head.image_embedding(siglip2.extract_feat(x))
        ref = model.get_image_features(pixel_values=x)
    assert _max_diff(ours, torch.nn.functional.normalize(ref, dim=-1)) < 1e-5
    err = tool_error(run_tool(['model_converters/hf_siglip.py', str(tmp_path / 'siglip2'),
                               str(tmp_path / 'towers.safetensors'), '--siglip2-towers']))
    assert '.pth' in err
