"""RefCOCOMetric and CaptionMetric against values worked out by hand.

RefCOCO: IoU = intersection / union of xyxy boxes in pixels (no +1), a hit when IoU >= 0.5
(so exactly 0.5 counts), Acc and mIoU x100, pooled and per split. Captions: pre-tokenised
(lower case, no punctuation), scored without Java; BLEU is corpus BLEU (counts summed over
images, brevity penalty from the closest reference length), CIDEr is CIDEr-D x10 per image
(x100 reported): a caption equal to its only reference scores 10 when every n-gram order
has an n-gram that the other images' references lack, one sharing nothing scores 0.
"""
import math

import pytest
import torch

from locca_mm.evaluation import CaptionMetric, RefCOCOMetric, python_ptb_tokenize

# (pred, gt, split, IoU by hand)
PAIRS = [
    # inter 10 x 10 = 100; union 100 + 200 - 100 = 200 -> exactly 0.5: a hit.
    ([0., 0., 10., 10.], [0., 0., 10., 20.], 'val', 0.5),
    # gt 1/16 px taller: union 200.625 -> 0.49844: just below, a miss.
    ([0., 0., 10., 10.], [0., 0., 10., 20.0625], 'val', 100 / 200.625),
    # shifted by a third: inter 20 x 20 = 400; union 600 + 600 - 400 = 800 -> 0.5: a hit.
    ([0., 0., 30., 20.], [10., 0., 40., 20.], 'testA', 0.5),
    # corner overlap: inter 2 x 2 = 4; union 16 + 16 - 4 = 28 -> 1/7.
    ([0., 0., 4., 4.], [2., 2., 6., 6.], 'testA', 1 / 7),
    # the same box -> 1.
    ([5., 5., 9., 30.], [5., 5., 9., 30.], 'testA', 1.0),
    # disjoint -> 0.
    ([0., 0., 1., 1.], [2., 2., 3., 3.], 'testB', 0.0),
]


def _ref_samples(pairs):
    return [dict(pred_instances=dict(bboxes=torch.tensor([p]), scores=torch.ones(1)),
                 gt_ref_bbox=torch.tensor(g), split=s) for p, g, s, _ in pairs]


def test_refcoco_ious_and_hits_by_hand():
    metric = RefCOCOMetric()
    metric.process(None, _ref_samples(PAIRS))
    res = metric.evaluate(len(PAIRS))
    ious = [iou for *_, iou in PAIRS]

    def acc(values):
        return 100 * sum(v >= 0.5 for v in values) / len(values)

    def miou(values):
        return 100 * sum(values) / len(values)

    assert res['refcoco/Acc@0.5'] == pytest.approx(50.0)  # hits: 1, 0, 1, 0, 1, 0
    assert res['refcoco/mIoU'] == pytest.approx(miou(ious), abs=1e-4)
    splits = dict(val=ious[:2], testA=ious[2:5], testB=ious[5:])
    assert acc(splits['val']) == 50.0 and acc(splits['testA']) == pytest.approx(200 / 3)
    for split, values in splits.items():
        assert res[f'refcoco/{split}/Acc@0.5'] == pytest.approx(acc(values)), split
        assert res[f'refcoco/{split}/mIoU'] == pytest.approx(miou(values), abs=1e-4), split
    assert res['refcoco/truncated'] == 0


@pytest.mark.parametrize('index,hit', [(0, True), (1, False), (2, True), (3, False)])
def test_refcoco_threshold_is_inclusive_one_pair_at_a_time(index, hit):
    metric = RefCOCOMetric()
    metric.process(None, _ref_samples([PAIRS[index]]))
    res = metric.compute_metrics(metric.results)
    assert res['Acc@0.5'] == (100.0 if hit else 0.0)
    assert res['mIoU'] == pytest.approx(100 * PAIRS[index][3], abs=1e-4)


# ----------------------------------------------------------------------------- captions
def caption_metric(preds, refs):
    """CaptionMetric (no Java) over the samples, through ``evaluate``."""
    for text in [*preds, *(r for rs in refs for r in rs)]:
        assert python_ptb_tokenize(text) == text  # already tokenised: nothing changes
    metric = CaptionMetric(use_java=False)
    metric.process(None, [dict(pred_caption=p, gt_captions=r) for p, r in zip(preds, refs)])
    out = metric.evaluate(len(preds))
    return {k.split('/', 1)[1]: v for k, v in out.items()}


def test_bleu_of_one_caption_by_hand():
    # pred "a dog on a sofa" vs "a dog on the sofa" (5 words each: no brevity penalty).
    # unigrams: a (clipped to 1), dog, on, sofa -> 4/5; bigrams: "a dog", "dog on" -> 2/4;
    # trigrams: "a dog on" -> 1/3; 4-grams: 0/2.
    s = caption_metric(['a dog on a sofa'], [['a dog on the sofa']])
    p1, p2, p3 = 4 / 5, 2 / 4, 1 / 3
    assert s['BLEU-1'] == pytest.approx(100 * p1, abs=1e-4)
    assert s['BLEU-2'] == pytest.approx(100 * math.sqrt(p1 * p2), abs=1e-4)
    assert s['BLEU-3'] == pytest.approx(100 * (p1 * p2 * p3) ** (1 / 3), abs=1e-4)
    assert s['BLEU-4'] < 0.1  # no 4-gram matches


def test_bleu_brevity_penalty_uses_the_closest_reference():
    # pred "a dog" (2 words): precisions 1, references of 5 and 3 words -> the closest is 3:
    # BP = exp(1 - 3 / 2).
    s = caption_metric(['a dog'], [['a dog on a sofa', 'a small dog']])
    bp = math.exp(1 - 3 / 2)
    assert s['BLEU-1'] == pytest.approx(100 * bp, abs=1e-4)
    assert s['BLEU-2'] == pytest.approx(100 * bp, abs=1e-4)


def test_bleu_is_pooled_over_the_corpus_not_averaged():
    # Counts summed: unigrams (4 + 2) / (5 + 2), bigrams (2 + 1) / (4 + 1); lengths 7 = 7.
    s = caption_metric(['a dog on a sofa', 'a cat'], [['a dog on the sofa'], ['a cat']])
    assert s['BLEU-1'] == pytest.approx(100 * 6 / 7, abs=1e-4)  # not (80 + 100) / 2
    assert s['BLEU-2'] == pytest.approx(100 * math.sqrt(6 / 7 * 3 / 5), abs=1e-4)


def test_cider_by_hand():
    refs = [['a red circle on top of it'], ['two blue squares side by side']]
    perfect = caption_metric([r[0] for r in refs], refs)
    assert perfect['CIDEr'] == pytest.approx(1000.0, abs=1e-3)
    assert perfect['BLEU-4'] == pytest.approx(100.0, abs=1e-4)
    # One perfect, one sharing no word with its reference: (10 + 0) / 2 x 100.
    half = caption_metric(['a red circle on top of it', 'green triangles'], refs)
    assert half['CIDEr'] == pytest.approx(500.0, abs=1e-3)


PREDS = ['a red circle left of a blue square', 'two green triangles', 'a yellow star',
         'the dog is on the sofa']
REFS = [['a red circle and a blue square', 'a red circle left of a square'],
        ['green triangles', 'two triangles that are green'],
        ['one yellow star', 'a yellow star above nothing'],
        ['a dog on a sofa', 'the dog sleeps on the sofa', 'a sofa with a dog']]


def test_caption_metric_equals_the_scorers_called_on_the_same_tokens():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    gts = {i: list(r) for i, r in enumerate(REFS)}
    res = {i: [p] for i, p in enumerate(PREDS)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    s = caption_metric(PREDS, REFS)
    for n in range(4):
        assert s[f'BLEU-{n + 1}'] == pytest.approx(100 * bleu[n], abs=1e-6)
    assert s['CIDEr'] == pytest.approx(100 * cider, abs=1e-6)
    assert 0 < s['CIDEr'] < 1000 and 0 < s['BLEU-4'] < 100
