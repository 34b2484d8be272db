"""Contrastive losses against references, and the CoCa / CLIP configurations."""
import math

import pytest
import torch
import torch.nn.functional as F

from locca_mm.models.losses import clip_loss, siglip_loss
from tests.test_models.utils import CLIP_B, COCA_B, build_tiny, make_batch


def _features(b=6, e=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = F.normalize(torch.randn(b, e, generator=g), dim=-1)
    text = F.normalize(torch.randn(b, e, generator=g), dim=-1)
    return image, text


def _clip_formula(image, text, scale):
    logits = scale * image @ text.t()
    labels = torch.arange(len(image))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def _siglip_formula(image, text, scale, bias):
    total = 0.0
    for i in range(len(image)):
        for j in range(len(text)):
            z = 1.0 if i == j else -1.0
            total += -math.log(1 / (1 + math.exp(-z * (scale * float(image[i] @ text[j])
                                                       + bias))))
    return total / len(image)


def test_clip_loss_matches_formula_and_open_clip():
    image, text = _features()
    scale = torch.tensor(14.3)
    ours = clip_loss(image, text, scale)
    assert torch.allclose(ours, _clip_formula(image, text, scale), atol=1e-6)
    open_clip_loss = pytest.importorskip('open_clip.loss')
    ref = open_clip_loss.ClipLoss()(image, text, scale)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_siglip_loss_matches_formula_and_open_clip():
    image, text = _features()
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    ours = siglip_loss(image, text, scale, bias)
    assert float(ours) == pytest.approx(_siglip_formula(image, text, 10.0, -10.0), rel=1e-5)
    open_clip_loss = pytest.importorskip('open_clip.loss')
    ref = open_clip_loss.SigLipLoss()(image, text, scale, bias)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_coca_model_has_decoupled_decoder_and_contrastive_loss():
    model = build_tiny(COCA_B)
    decoder = model.head.decoder
    assert decoder.blocks[0].cross_attn is None and decoder.blocks[1].cross_attn is not None
    losses = model(**make_batch(model, tasks=('cap', )), mode='loss')
    assert set(losses) == {'loss_cap', 'loss_con', 'logit_scale'}
    assert torch.allclose(losses['logit_scale'], torch.tensor(1 / 0.07), rtol=1e-5)
    # The unimodal layers never see the image: changing it leaves the text path alone.
    calls = []
    decoder.blocks[0].register_forward_hook(lambda m, a, o: calls.append(o.detach().clone()))
    batch = make_batch(model, tasks=('cap', ))
    model(**batch, mode='loss')
    batch['inputs'] = torch.randn_like(batch['inputs'])
    model(**batch, mode='loss')
    assert torch.equal(calls[0], calls[1])


def test_clip_model_contrastive_only():
    model = build_tiny(CLIP_B)
    assert model.head is None
    losses = model(**make_batch(model, tasks=('cap', )), mode='loss')
    assert set(losses) == {'loss_con', 'logit_scale'}
    losses['loss_con'].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    from locca_mm.structures import LocCaDataSample
    with pytest.raises(NotImplementedError, match='no decoder'):  # a decoding task
        model.predict(torch.randn(1, 3, 32, 32), [LocCaDataSample(metainfo=dict(task='cap'))])


def test_siglip_option_builds_with_bias():
    from locca_mm.registry import MODELS
    from tests.test_models.utils import tiny_model_cfg
    cfg = tiny_model_cfg(CLIP_B)
    cfg['contrastive_head']['loss_type'] = 'sigmoid'
    model = MODELS.build(cfg)
    assert float(model.contrastive_head.logit_bias) == -10.0
    losses = model(**make_batch(model, tasks=('cap', )), mode='loss')
    assert torch.isfinite(losses['loss_con'])
