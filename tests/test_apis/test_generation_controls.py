"""Generation controls through the inferencers and tools/infer.py (locca_mm.cli.infer):
sampled captions reproducible with a seed, the model's test_cfg left as it was, boxes
valid under sampling, bad values named."""
import contextlib
import io

import pytest

from locca_mm.cli import SetupError
from locca_mm.cli import infer as infer_cli
from tests.test_apis import test_task_inferencers as shared

# The tiny model, its images and inferencers (module fixtures of the task-inferencer tests).
tiny, inferencers, one_thread = shared.tiny, shared.inferencers, shared.one_thread
_inside = shared._inside

HOT = dict(do_sample=True, temperature=20.0)


def test_caption_sampling_is_reproducible_and_undone(tiny, inferencers):
    inferencer = inferencers['ImageCaptionInferencer']
    before = dict(inferencer.model.test_cfg)
    greedy = inferencer(tiny['paths'], batch_size=2)
    a = inferencer(tiny['paths'], batch_size=2, seed=5, **HOT)
    b = inferencer(tiny['paths'], batch_size=2, seed=5, **HOT)
    c = inferencer(tiny['paths'], batch_size=2, seed=6, **HOT)
    assert a == b and a != c and a != greedy
    assert inferencer.model.test_cfg == before  # the call's controls are undone
    assert inferencer(tiny['paths'], batch_size=2, do_sample=True, top_k=1, seed=1) == greedy
    penalised = inferencer(tiny['paths'], batch_size=2, repetition_penalty=1.5,
                           no_repeat_ngram_size=2)
    assert len(penalised) == 3


def test_grounding_and_region_captions_under_sampling(tiny, inferencers):
    ref = inferencers['VisualGroundingInferencer'](tiny['paths'], ['the red one'] * 3, seed=0,
                                                   **HOT)
    assert all(_inside(r['pred_bboxes'][0], p) for r, p in zip(ref, tiny['paths']))
    gcap = inferencers['GroundedCaptionInferencer'](tiny['paths'], [[2, 3, 30, 30]] * 3, seed=0,
                                                    **HOT)
    assert all(isinstance(r['pred_caption'], str) for r in gcap)


def test_detection_refuses_sampling(tiny, inferencers):
    with pytest.raises(ValueError, match='not to "detect"'):
        inferencers['GroundedDetectionInferencer'](tiny['paths'][:1], do_sample=True)


def _tool(tiny, tmp_path, *extra):
    with contextlib.redirect_stdout(io.StringIO()):
        return infer_cli.main([tiny['paths'][0], tiny['cfg'], tiny['ckpt'], '--out-dir',
                               str(tmp_path), *extra])


def test_infer_tool_sampling_options(tiny, tmp_path):
    opts = ['--do-sample', '--temperature', '20', '--top-p', '0.95', '--seed', '3']
    a, b = _tool(tiny, tmp_path, *opts), _tool(tiny, tmp_path, *opts)
    assert a == b and a[0]['caption'] != _tool(tiny, tmp_path)[0]['caption']
    top1 = _tool(tiny, tmp_path, '--do-sample', '--top-k', '1', '--repetition-penalty', '1.0')
    assert top1 == _tool(tiny, tmp_path)
    with pytest.raises(SetupError, match=r'--top-p must be in \(0, 1\]'):
        _tool(tiny, tmp_path, '--do-sample', '--top-p', '0')
    with pytest.raises(SetupError, match='apply to --task cap, ref, gcap and vqa, not detect'):
        _tool(tiny, tmp_path, '--task', 'detect', '--no-repeat-ngram-size', '2')
