"""CaptionMetric equals pycocoevalcap called directly; the Python tokenizer matches Java's."""
import shutil

import pytest

from locca_mm.evaluation import CaptionMetric, caption_scores, python_ptb_tokenize

PREDS = {0: 'a red circle left of a blue square.', 1: 'two green triangles',
         2: "the dog's ball isn't red", 3: 'a yellow star'}
REFS = {0: ['A red circle, left of a blue square.', 'a red circle and a blue square'],
        1: ['Two green triangles.', 'green triangles'],
        2: ["the dog's ball is not red.", 'a red ball'],
        3: ['one yellow star', 'a yellow star above nothing']}


@pytest.mark.skipif(shutil.which('java') is None, reason='pycocoevalcap tokenizer needs java')
def test_caption_metric_equals_pycocoevalcap_called_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{'caption': c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{'caption': v}] for k, v in PREDS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)

    metric = CaptionMetric()
    metric.process(None, [dict(pred_caption=PREDS[i], gt_captions=REFS[i]) for i in range(4)])
    ours = metric.compute_metrics(metric.results)
    for i in range(4):
        assert ours[f'BLEU-{i + 1}'] == pytest.approx(bleu[i] * 100, abs=1e-6)
    assert ours['CIDEr'] == pytest.approx(cider * 100, abs=1e-6)


@pytest.mark.skipif(shutil.which('java') is None, reason='compares with the Java tokenizer')
def test_python_tokenizer_agrees_with_the_java_one_on_captions():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    texts = [*PREDS.values(), *[c for v in REFS.values() for c in v],
             'A man riding a wave on top of a surfboard.', "Two dogs' toys, e.g. balls; fun!",
             'It costs 3.50 dollars -- or 1,000 cents...', "They're here; I'm (not) sure."]
    java = PTBTokenizer().tokenize({i: [{'caption': t}] for i, t in enumerate(texts)})
    for i, t in enumerate(texts):
        assert python_ptb_tokenize(t) == java[i][0], t


def test_perfect_captions_score_full_bleu():
    refs = {0: ['a red circle'], 1: ['two blue squares']}
    scores = caption_scores({0: 'a red circle', 1: 'two blue squares'}, refs, use_java=False)
    assert scores['BLEU-1'] == pytest.approx(100.0, abs=1e-4)


def test_only_caption_samples_are_scored():
    metric = CaptionMetric(use_java=False)
    metric.process(None, [dict(pred_caption='a red circle', gt_captions=['a red circle']),
                          dict(task='ref', pred_caption='x', gt_captions=[]),  # skipped
                          dict(task='cap', pred_caption='two squares', gt_caption='two squares')])
    assert [r['refs'] for r in metric.results] == [['a red circle'], ['two squares']]
    with pytest.raises(ValueError, match='no reference captions'):
        metric.process(None, [dict(pred_caption='x', gt_captions=[])])
