"""Evaluation while pretraining: the few-shot ridge probe, zero-shot caption scoring and
caption perplexity, each against a reference computation."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from locca_mm.datasets import ShapesClassification, SyntheticShapes
from locca_mm.evaluation import (
    CaptionPerplexityMetric,
    FewShotProbeMetric,
    ZeroShotMetric,
    ridge_probe,
)
from locca_mm.evaluation.metrics.pretrain_evals import BIAS_CONSTANT
from locca_mm.structures import LocCaDataSample
from locca_mm.utils import register_all_modules
from tests.test_models.utils import CAP_TINY, CAPTIONS, build_tiny, make_batch, randomize_logits

register_all_modules()


def _lstsq_ridge(x_train, y_train, x_test, num_classes, l2):
    """Ridge as ordinary least squares on the system augmented with sqrt(l2) I."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-5
    design = lambda x: np.hstack([(x - mean) / std, np.full((len(x), 1), BIAS_CONSTANT)])  # noqa
    a = design(x_train)
    y = 2.0 * np.eye(num_classes)[y_train] - 1.0
    d = a.shape[1]
    w = np.linalg.lstsq(np.vstack([a, math.sqrt(l2) * np.eye(d)]),
                        np.vstack([y, np.zeros((d, num_classes))]), rcond=None)[0]
    return design(x_test) @ w


@pytest.mark.parametrize('n,d', [(60, 8), (12, 40)])  # primal (N >= D) and dual (N < D)
@pytest.mark.parametrize('l2', [1.0, 2.0**10])
def test_ridge_probe_equals_a_least_squares_solve(n, d, l2):
    rng = np.random.default_rng(n + d)
    x, xt = rng.normal(size=(n, d)), rng.normal(size=(30, d))
    y = np.arange(n) % 4
    scores = _lstsq_ridge(x, y, xt, 4, l2)
    pred = ridge_probe(x, y, xt, 4, l2)
    np.testing.assert_array_equal(pred, scores.argmax(1))
    assert len(set(pred.tolist())) > 1  # a real decision, not a constant


def _feature_sample(features, label, split, idx):
    return dict(task='features', pred_features=torch.as_tensor(features, dtype=torch.float32),
                gt_label=label, split=split, sample_idx=idx)


def test_fewshot_probe_takes_the_first_k_of_each_class():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 4
    support = [(i, i % 3, centres[i % 3] + rng.normal(size=6)) for i in range(30)]
    heldout = [(100 + i, i % 3, centres[i % 3] + 3 * rng.normal(size=6)) for i in range(45)]
    metric = FewShotProbeMetric(shots=(1, 5), l2_reg=4.0)
    # Given out of order: the probe orders the support by sample_idx.
    metric.process(None, [_feature_sample(f, c, 'cls_train', i) for i, c, f in support[::-1]])
    metric.process(None, [_feature_sample(f, c, 'cls_val', i) for i, c, f in heldout])
    out = metric.compute_metrics(metric.results)
    xt, yt = np.stack([f for _, _, f in heldout]), np.array([c for _, c, _ in heldout])
    for k in (1, 5):
        chosen = support[:3 * k]  # labels cycle 0, 1, 2: the first k of each class
        x, y = np.stack([f for _, _, f in chosen]), np.array([c for _, c, _ in chosen])
        expected = 100 * (_lstsq_ridge(x, y, xt, 3, 4.0).argmax(1) == yt).mean()
        assert out[f'{k}shot'] == pytest.approx(expected)
    assert 50 < out['5shot'] < 100  # noisy held-out images: a score that can move


def test_fewshot_probe_needs_both_kinds_of_images():
    metric = FewShotProbeMetric()
    metric.process(None, [_feature_sample(np.ones(3), 0, 'cls_train', 0)])
    with pytest.raises(ValueError, match='held-out'):
        metric.compute_metrics(metric.results)


def _tiny_cap():
    return randomize_logits(build_tiny(CAP_TINY, seed=1).eval(), std=0.5)


def _samples(task, n, **fields):
    out = []
    for i in range(n):
        ds = LocCaDataSample(metainfo=dict(img_shape=(32, 32), ori_shape=(32, 32),
                                           scale_factor=(1.0, 1.0)))
        ds.task = task
        for k, v in fields.items():
            setattr(ds, k, v[i] if isinstance(v, list) and k == 'gt_captions' else v)
        out.append(ds)
    return out


@torch.no_grad()
def _hand_loglik(model, memory_row, text):
    """Summed log-probability of ``text``'s Cap tokens (and eos), one full decoder pass."""
    seq = model.tokenizer.build('cap', text=text)
    logits = model.head.decoder(seq.tokens[None], memory_row)[0].float()  # [T, V]
    logp = logits.log_softmax(-1)
    return sum(float(logp[t, seq.tokens[t]]) for t in range(seq.prefix_len, len(seq.tokens)))


def test_zero_shot_scores_are_the_per_class_log_likelihoods():
    model = _tiny_cap()
    classes = ['red circle', 'blue square', 'green triangle', 'a yellow star and more']
    data = make_batch(model, n=3, tasks=('cap', ))
    inputs = data['inputs']
    samples = _samples('class_scores', 3, candidates=classes, gt_label=1)
    model.predict(inputs, samples)
    memory = model.head.project_memory(model.extract_feat(inputs))
    for i, ds in enumerate(samples):
        row = memory.index_select(torch.tensor([i]))
        hand = [_hand_loglik(model, row, c) for c in classes]
        np.testing.assert_allclose(ds.pred_class_scores.numpy(), hand, rtol=1e-5, atol=1e-4)
        assert ds.pred_label == int(np.argmax(hand))
    assert len({tuple(ds.pred_class_scores.tolist()) for ds in samples}) == 3  # per image
    metric = ZeroShotMetric()
    metric.process(None, [ds.to_dict() for ds in samples])
    expected = 100 * np.mean([ds.pred_label == 1 for ds in samples])
    assert metric.compute_metrics(metric.results)['accuracy'] == pytest.approx(expected)


def test_perplexity_is_exp_of_the_token_mean_cross_entropy():
    model = _tiny_cap()
    n = 4
    data = make_batch(model, n=n, tasks=('cap', ))
    samples = _samples('caption_nll', n, gt_captions=[[c] for c in CAPTIONS[:n]])
    model.predict(data['inputs'], samples)
    # Directly: the decoder's logits of every caption, cross-entropy averaged over tokens.
    memory = model.head.project_memory(model.extract_feat(data['inputs']))
    losses, count = [], 0
    for i, caption in enumerate(CAPTIONS[:n]):
        seq = model.tokenizer.build('cap', text=caption)
        logits = model.head.decoder(seq.tokens[None], memory.index_select(torch.tensor([i])))[0]
        target = seq.tokens[seq.prefix_len:]
        losses.append(float(F.cross_entropy(logits[seq.prefix_len:].float(), target,
                                            reduction='sum')))
        count += len(target)
    expected_nll = float(sum(losses)) / count
    # ... and the training loss of the same rows (eval mode: autoregressive), the same mean.
    assert float(model.loss(**data)['loss_cap']) == pytest.approx(expected_nll, rel=1e-5)
    metric = CaptionPerplexityMetric()
    metric.process(None, [ds.to_dict() for ds in samples])
    out = metric.compute_metrics(metric.results)
    assert out['nll'] == pytest.approx(expected_nll, rel=1e-5)
    assert out['perplexity'] == pytest.approx(math.exp(expected_nll), rel=1e-5)
    assert sum(ds.caption_tokens for ds in samples) == count


def test_features_are_the_mean_of_the_encoder_tokens():
    model = _tiny_cap()
    data = make_batch(model, n=2, tasks=('cap', ))
    samples = model.predict(data['inputs'], _samples('features', 2))
    tokens = model.extract_feat(data['inputs'])
    for i, ds in enumerate(samples):
        torch.testing.assert_close(ds.pred_features, tokens[i].mean(0))


def test_scoring_samples_come_from_the_shapes_datasets():
    pipeline = [dict(type='LoadImage'), dict(type='PackLocCaInputs')]
    zs = ShapesClassification(split='cls_val', num_samples=2, test_mode=True,
                              eval_task='class_scores', pipeline=pipeline)
    ds = zs[0]['data_samples']
    assert ds.task == 'class_scores' and ds.split == 'cls_val'
    assert ds.candidates == list(zs.metainfo['classes']) and len(ds.candidates) == 12
    phrased = ShapesClassification(split='cls_val', num_samples=2, test_mode=True,
                                   eval_task='class_scores', pipeline=pipeline,
                                   prompt_template='a picture of a {}.')
    assert phrased[0]['data_samples'].candidates[0] == 'a picture of a red circle.'
    ppl = SyntheticShapes(split='pretrain', num_samples=2, test_mode=True,
                          eval_task='caption_nll', pipeline=pipeline)
    assert ppl[0]['data_samples'].task == 'caption_nll'
    assert ppl[0]['data_samples'].gt_captions
    with pytest.raises(ValueError, match='unknown evaluation task'):
        SyntheticShapes(split='pretrain', num_samples=2, eval_task='perplexity')
