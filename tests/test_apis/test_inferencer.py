"""LocCaInferencer and tools/infer.py on a tiny random model."""
import json

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import run_tool
from tests.test_models.utils import build_tiny, randomize_logits, tiny_model_cfg


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny model's config file, checkpoint and two images."""
    root = tmp_path_factory.mktemp('infer')
    model = randomize_logits(build_tiny(), std=2.0)  # non-zero logits: decoding not degenerate
    ckpt = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    cfg = root / 'tiny.py'
    cfg.write_text(f"default_scope = 'locca_mm'\nmodel = {tiny_model_cfg()!r}\n")
    images = root / 'images'
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (('a.jpg', (48, 64, 3)), ('b.png', (80, 60, 3))):
        cv2.imwrite(str(images / name), rng.integers(0, 255, shape, dtype=np.uint8))
    return dict(cfg=str(cfg), ckpt=str(ckpt), images=images)


@pytest.mark.parametrize('task,kwargs', [('cap', {}), ('ref', dict(text='the red one')),
                                         ('gcap', dict(box=[5, 5, 40, 30])),
                                         ('detect', {}),
                                         ('vqa', dict(text='what colour is it?'))])
def test_inferencer_each_task_draws_and_returns_predictions(tiny, tmp_path, task, kwargs):
    from locca_mm.apis import LocCaInferencer
    inferencer = LocCaInferencer(tiny['cfg'], tiny['ckpt'], show_progress=False)
    out = inferencer(str(tiny['images']), task=task, batch_size=2, out_dir=str(tmp_path),
                     **kwargs)
    preds = out['predictions']
    assert [p['image'].split('/')[-1] for p in preds] == ['a.jpg', 'b.png']
    for pred in preds:
        assert pred['task'] == task
        if task in ('cap', 'gcap'):
            assert isinstance(pred['caption'], str)
        if task == 'vqa':
            assert pred['text'] == 'what colour is it?' and isinstance(pred['answer'], str)
        if task == 'ref':
            x1, y1, x2, y2 = pred['bbox']
            assert 0 <= x1 <= x2 and 0 <= y1 <= y2 and 0 <= pred['score'] <= 1
    assert preds[0].get('box') == ([5.0, 5.0, 40.0, 30.0] if task == 'gcap' else None)
    # The picture differs from the input where something was drawn.
    original = cv2.imread(str(tiny['images'] / 'a.jpg'))
    drawn = cv2.imread(str(tmp_path / 'vis' / 'a.png'))
    assert drawn is not None and drawn.shape[0] > original.shape[0]  # + the text panel
    top = drawn[:original.shape[0], :original.shape[1]].astype(int)
    if task in ('ref', 'gcap', 'detect'):
        assert np.abs(top - original.astype(int)).max() > 100  # a box was drawn on it


def test_inferencer_accepts_arrays(tiny):
    from locca_mm.apis import LocCaInferencer
    inferencer = LocCaInferencer(tiny['cfg'], tiny['ckpt'], show_progress=False)
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    out = inferencer([img, img], task='ref', text='x')
    assert len(out['predictions']) == 2 and len(out['predictions'][0]['bbox']) == 4


@pytest.mark.slow
def test_infer_tool_writes_pictures_and_json(tiny, tmp_path):
    proc = run_tool(['infer.py', str(tiny['images'] / 'a.jpg'), tiny['cfg'], tiny['ckpt'],
                     '--task', 'ref', '--text', 'the left square', '--out-dir', str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    preds = json.loads((tmp_path / 'predictions.json').read_text())
    assert preds[0]['text'] == 'the left square' and len(preds[0]['bbox']) == 4
    assert (tmp_path / 'vis' / 'a.png').exists()


@pytest.mark.parametrize('args,message', [
    (['--task', 'ref'], 'needs the referring expression'),
    (['--task', 'vqa'], 'needs the question'),
    (['--task', 'gcap', '--box', '1,2,3'], 'four numbers'),
    (['--task', 'gcap', '--box', '5,5,1,1'], 'x2 > x1'),
    (['--task', 'gcap'], 'needs a box'),
])
@pytest.mark.slow
def test_infer_tool_bad_arguments(tiny, tmp_path, args, message):
    proc = run_tool(['infer.py', str(tiny['images'] / 'a.jpg'), tiny['cfg'], tiny['ckpt'],
                     '--out-dir', str(tmp_path), *args])
    assert proc.returncode == 1 and message in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_infer_tool_bad_images(tiny, tmp_path):
    missing = run_tool(['infer.py', str(tmp_path / 'nope.jpg'), tiny['cfg'], tiny['ckpt']])
    assert missing.returncode == 1 and 'no such image' in missing.stderr
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    proc = run_tool(['infer.py', str(broken), tiny['cfg'], tiny['ckpt'],
                     '--out-dir', str(tmp_path / 'out')])
    assert proc.returncode == 1 and 'broken.jpg' in proc.stderr
    assert 'Traceback' not in proc.stderr
