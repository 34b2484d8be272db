"""The baselines as configs: CapPa's parallel share of Cap rows, CoCa's loss weights.

Ratios and weights are read from ``configs/_base_/models/`` (and checked against the
table of docs/en/user_guides/model.md: LocCa 0.5, CapPa 0.75, Cap 0; CoCa λ_cap = 2,
λ_con = 1); the models are the full configs shrunk by ``tests/test_models/utils.py``.
"""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from locca_mm.structures import LocCaDataSample, TaskBatch
from tests.conftest import ROOT
from tests.test_models.utils import CAP_B, CAPPA_B, CAPTIONS, COCA_B, IMG, LOCCA_B, build_tiny


def base_model(name: str) -> dict:
    return Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'models', f'{name}.py')).model


# config -> (its base model file, the ratio docs/en/user_guides/model.md states)
RATIOS = {LOCCA_B: ('locca_vit_b', 0.5), CAPPA_B: ('cappa_vit_b', 0.75), CAP_B: ('cap_vit_b', 0.0)}


class RowRecorder:
    """Stands in for ``TextDecoder.forward``: records each call's rows and parallel flags and
    returns zero logits of the right shape (the loss value is not what is measured)."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.parallel_rows = self.causal_rows = 0
        self.parallel_lengths = set()

    def __call__(self, tokens, memory, parallel=None, logits_at=None, input_embeds=None):
        rows = tokens.shape[0]
        if parallel is None:
            self.causal_rows += rows
        elif parallel is True:  # the default layout runs parallel rows apart
            self.parallel_rows += rows
            self.parallel_lengths.add(tokens.shape[1])
        else:  # the static layout: one call, per-row flags
            drawn = int(parallel.sum())
            self.parallel_rows += drawn
            self.causal_rows += rows - drawn
            if drawn:
                self.parallel_lengths.add(tokens.shape[1])
        if logits_at is None:
            return torch.zeros(*tokens.shape, self.vocab_size)
        return torch.zeros(int(logits_at.sum()), self.vocab_size)


def cap_rows(tokenizer, n: int) -> TaskBatch:
    """n Cap rows of different lengths, right-padded."""
    seqs = [tokenizer.build('cap', text=CAPTIONS[i % len(CAPTIONS)]) for i in range(n)]
    return TaskBatch.from_sequences(seqs, range(n), n, tokenizer.text_tokenizer.pad_id)


def _measure(model, monkeypatch, batches: int, rows: int) -> RowRecorder:
    head = model.head
    recorder = RowRecorder(model.tokenizer.text_tokenizer.vocab_size)
    monkeypatch.setattr(head.decoder, 'forward', recorder)
    memory = head.project_memory(torch.zeros(rows, 16, model.backbone.embed_dims))
    batch = cap_rows(model.tokenizer, rows)
    torch.manual_seed(0)
    for _ in range(batches):
        head.loss(memory, dict(cap=batch))
    return recorder


@pytest.mark.parametrize('static', [False, True])
@pytest.mark.parametrize('config', list(RATIOS))
def test_parallel_share_of_cap_rows_matches_the_config(config, static, monkeypatch):
    base, stated = RATIOS[config]
    ratio = base_model(base).head.parallel_ratio
    assert ratio == stated  # the table of docs/en/user_guides/model.md
    model = build_tiny(config, static_shapes=static).train()
    assert model.head.parallel_ratio == ratio
    n_batches, n_rows = 12, 256
    with torch.no_grad():
        rec = _measure(model, monkeypatch, n_batches, n_rows)
    total = n_batches * n_rows
    assert rec.parallel_rows + rec.causal_rows == total
    share = rec.parallel_rows / total
    if ratio == 0:
        assert rec.parallel_rows == 0
        return
    # Binomial: a fraction of n draws lies within 4.5 standard deviations of p.
    sd = math.sqrt(ratio * (1 - ratio) / total)
    assert abs(share - ratio) <= 4.5 * sd, (share, ratio, sd)
    # Parallel rows are padded to the caption max_length, whatever the captions' lengths.
    assert rec.parallel_lengths == {model.tokenizer.max_length['cap']}


def test_no_parallel_rows_in_eval_mode(monkeypatch):
    model = build_tiny(LOCCA_B).eval()
    with torch.no_grad():
        rec = _measure(model, monkeypatch, 2, 64)
    assert rec.parallel_rows == 0 and rec.causal_rows == 128


# Captions that fit the tiny tokenizer's max_length['cap'] (32 bytes, eos included).
SHORT = ['two green triangles', 'one yellow star', 'a red circle', 'blue squares']


def caption_batch(model, captions):
    """Preprocessed images with one Cap row each (the rows built by the model's tokenizer)."""
    g = torch.Generator().manual_seed(0)
    samples = []
    for caption in captions:
        ds = LocCaDataSample(metainfo=dict(img_shape=(IMG, IMG)))
        ds.task_sequences = dict(cap=model.tokenizer.build('cap', text=caption))
        samples.append(ds)
    images = [torch.randint(0, 256, (3, IMG, IMG), generator=g, dtype=torch.uint8)
              for _ in captions]
    return model.data_preprocessor(dict(inputs=images, data_samples=samples), True)


def test_coca_total_loss_is_the_weighted_sum():
    cfg = base_model('coca_vit_b')
    w_cap, w_con = cfg.head.loss_weights['cap'], cfg.contrastive_head.loss_weight
    assert (w_cap, w_con) == (2.0, 1.0)  # CoCa's λ_cap = 2, λ_con = 1 (the model page)
    model = build_tiny(COCA_B).train()
    assert model.head.parallel_ratio == 0.0
    torch.manual_seed(1)  # a non-uniform captioner, so the caption loss is not log V
    torch.nn.init.normal_(model.head.decoder.logit_layer.weight, std=0.5)
    batch = caption_batch(model, SHORT)
    with torch.no_grad():
        losses = model(**batch, mode='loss')
        total, log_vars = model.parse_losses(losses)

        # CoCa captions carry no prefix: every token of "{caption} <eos>" is trained.
        tokens = batch['task_batches']['cap'].tokens
        hand = [[c + 4 for c in caption.encode()] + [2] for caption in SHORT]
        assert [row[:len(h)].tolist() for row, h in zip(tokens, hand)] == hand
        visual = model.extract_feat(batch['inputs'])
        logits = model.head.decoder(tokens, model.head.project_memory(visual))
        cap = F.cross_entropy(torch.cat([logits[i, :len(h)] for i, h in enumerate(hand)]),
                              torch.tensor(sum(hand, [])))

        # CLIP's symmetric softmax loss on the model's two embeddings.
        con_head = model.contrastive_head
        image = con_head.image_embedding(visual)
        text = F.normalize(con_head.text_proj(model.head.decoder.text_embedding(tokens)), dim=-1)
        scale = con_head.logit_scale.exp().clamp(max=100.0)
        sim = scale * image @ text.t()
        labels = torch.arange(4)
        con = (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels)) / 2

    assert abs(float(cap) - float(con)) > 1e-2  # so that swapped weights would show
    assert float(losses['loss_cap']) == pytest.approx(w_cap * float(cap), rel=1e-5)
    assert float(losses['loss_con']) == pytest.approx(w_con * float(con), rel=1e-5)
    assert float(total) == pytest.approx(w_cap * float(cap) + w_con * float(con), rel=1e-5)
    assert set(k for k in log_vars if 'loss' in k) == {'loss', 'loss_cap', 'loss_con'}
