"""Task-named inferencers; tools/infer.py (locca_mm.cli.infer) on every shipped decoder config;
test.py --show-dir."""
import contextlib
import glob
import io
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from locca_mm.registry import MODELS
from locca_mm.structures import LocCaDataSample
from tests.conftest import ROOT, run_tool
from tests.test_models.utils import build_tiny, randomize_logits, tiny_model_cfg

SIZES = {'a.jpg': (48, 64), 'b.png': (80, 60), 'c.jpg': (40, 40)}  # (h, w)
NON_LOCCA = ('_base_', 'mmdet', 'mmseg', 'mmpretrain', 'toy')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One torch thread: tiny models only lose time to thread start-up on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _write_tiny(root, model, model_cfg, name='tiny', base=None):
    """A checkpoint of ``model`` and a config file for it (on ``base`` when given)."""
    ckpt = root / f'{name}.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    cfg = root / f'{name}.py'
    head = f'_base_ = {base!r}\n' if base else "default_scope = 'locca_mm'\n"
    delete = '_delete_=True, ' if base else ''
    cfg.write_text(f'{head}model = dict({delete}**{model_cfg!r})\n')
    return str(cfg), str(ckpt)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny LocCa's config and checkpoint, and three images of different sizes."""
    root = tmp_path_factory.mktemp('task_infer')
    model = randomize_logits(build_tiny(), std=2.0)  # non-zero logits: decoding not degenerate
    cfg, ckpt = _write_tiny(root, model, tiny_model_cfg())
    images = root / 'images'
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in SIZES.items():
        cv2.imwrite(str(images / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    paths = [str(images / name) for name in SIZES]
    return dict(cfg=cfg, ckpt=ckpt, images=images, paths=paths, root=root)


@pytest.fixture(scope='module')
def inferencers(tiny):
    from locca_mm import apis
    names = ('ImageCaptionInferencer', 'VisualGroundingInferencer', 'GroundedCaptionInferencer',
             'GroundedDetectionInferencer', 'FeatureInferencer')
    return {n: getattr(apis, n)(tiny['cfg'], tiny['ckpt'], show_progress=False) for n in names}


def _inside(box, path):
    h, w = SIZES[osp.basename(path)]
    x1, y1, x2, y2 = box.tolist()
    return 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h


def _assert_pictures(show_dir, names, paths):
    """One non-empty picture per input, of the input's size."""
    assert sorted(p.name for p in show_dir.iterdir()) == sorted(f'{n}.png' for n in names)
    for name, path in zip(names, paths):
        picture = cv2.imread(str(show_dir / f'{name}.png'))
        assert picture is not None and picture.std() > 0
        assert picture.shape[:2] == SIZES[osp.basename(path)]


def test_registered_and_exported():
    from locca_mm import apis
    from locca_mm.registry import INFERENCERS
    for name in ('LocCaInferencer', 'ImageCaptionInferencer', 'VisualGroundingInferencer',
                 'GroundedCaptionInferencer', 'GroundedDetectionInferencer', 'FeatureInferencer'):
        assert INFERENCERS.get(name) is getattr(apis, name)
        assert name in apis.__all__


def test_caption_batches_in_order_and_draws(tiny, inferencers, tmp_path):
    inferencer = inferencers['ImageCaptionInferencer']
    out = inferencer(tiny['paths'], batch_size=2, show_dir=str(tmp_path / 'vis'))
    assert len(out) == 3 and all(isinstance(r['pred_caption'], str) for r in out)
    one_by_one = [inferencer(p)[0] for p in tiny['paths']]
    assert out == one_by_one
    _assert_pictures(tmp_path / 'vis', ['a', 'b', 'c'], tiny['paths'])
    samples = inferencer(str(tiny['images']), return_datasamples=True, batch_size=2)
    assert all(isinstance(s, LocCaDataSample) for s in samples)
    assert [osp.basename(s.img_path) for s in samples] == list(SIZES)
    assert [s.pred_caption for s in samples] == [r['pred_caption'] for r in out]


def test_visual_grounding_pairs_texts(tiny, inferencers, tmp_path):
    inferencer = inferencers['VisualGroundingInferencer']
    a, b, _ = tiny['paths']
    images, texts = [a, b, a], ['the red one', 'a square', 'the left one']
    out = inferencer(images, texts, batch_size=2, show_dir=str(tmp_path))
    assert len(out) == 3
    for r, path in zip(out, images):
        assert r['pred_bboxes'].shape == (1, 4) and r['pred_scores'].shape == (1, )
        assert _inside(r['pred_bboxes'][0], path) and 0 <= float(r['pred_scores'][0]) <= 1
    samples = inferencer(images, texts, return_datasamples=True)
    assert [s.prompt_text for s in samples] == texts
    _assert_pictures(tmp_path, ['a', 'b', 'a_1'], images)
    assert len(inferencer(a, 'the red one')) == 1  # one text for one image
    with pytest.raises(ValueError, match='one text per image'):
        inferencer([a, b], 'the red one')
    with pytest.raises(ValueError, match='one text per image'):
        inferencer([a, b], ['x', 'y', 'z'])


def test_grounded_caption_pairs_boxes(tiny, inferencers, tmp_path):
    inferencer = inferencers['GroundedCaptionInferencer']
    paths = tiny['paths']
    boxes = [[2, 3, 30, 40], '5,5,50,70', np.array([1., 1., 20., 20.])]
    out = inferencer(paths, boxes, batch_size=2, show_dir=str(tmp_path))
    assert len(out) == 3 and all(isinstance(r['pred_caption'], str) for r in out)
    samples = inferencer(paths, np.array([[2, 3, 30, 40], [5, 5, 50, 70], [1, 1, 20, 20]]),
                         return_datasamples=True)
    assert samples[1].prompt_box.tolist() == [5, 5, 50, 70]  # original-image pixels
    assert [s.pred_caption for s in samples] == [r['pred_caption'] for r in out]
    _assert_pictures(tmp_path, ['a', 'b', 'c'], paths)
    assert len(inferencer(paths[0], [2, 3, 30, 40])) == 1  # one box for one image
    with pytest.raises(ValueError, match='one box per image'):
        inferencer(paths, [2, 3, 30, 40])
    with pytest.raises(ValueError, match='x2 > x1'):
        inferencer(paths[0], [30, 3, 2, 40])


def test_grounded_detection(tiny, inferencers, tmp_path):
    inferencer = inferencers['GroundedDetectionInferencer']
    out = inferencer(tiny['paths'], batch_size=2, num_beams=2, show_dir=str(tmp_path))
    assert len(out) == 3
    for r, path in zip(out, tiny['paths']):
        k = len(r['pred_bboxes'])
        assert 1 <= k <= 2 and r['pred_scores'].shape == (k, ) and len(r['pred_texts']) == k
        assert all(_inside(box, path) for box in r['pred_bboxes'])
        assert all(isinstance(t, str) for t in r['pred_texts'])
    _assert_pictures(tmp_path, ['a', 'b', 'c'], tiny['paths'])
    assert inferencer.model.test_cfg['num_beams'] == 1  # the call's num_beams is undone


def test_features_tokens_pooled_and_batched(tiny, inferencers):
    inferencer = inferencers['FeatureInferencer']
    tokens = inferencer(tiny['paths'], batch_size=2)
    assert len(tokens) == 3 and all(t.shape == (16, 32) for t in tokens)  # (32 / 8)^2 patches
    one_by_one = [inferencer(p)[0] for p in tiny['paths']]
    assert all(torch.allclose(t, u, atol=1e-5) for t, u in zip(tokens, one_by_one))
    pooled = inferencer(tiny['paths'], pooled=True)
    assert all(p.shape == (32, ) for p in pooled)
    assert torch.allclose(pooled[0], tokens[0].mean(0), atol=1e-5)  # no MAP pooler: the mean
    samples = inferencer(tiny['paths'][:1], return_datasamples=True)
    assert samples[0].task == 'feature' and samples[0].pred_feature.shape == (16, 32)
    with pytest.raises(ValueError, match='unknown argument'):
        inferencer(tiny['paths'], show_dir='x')


def test_features_use_the_map_pooler_of_a_contrastive_model(tiny, tmp_path):
    from locca_mm.apis import FeatureInferencer, ImageCaptionInferencer
    name = 'clip/clip_vit-b16_256xb32-1100k_webli'
    model = build_tiny(name)
    cfg, ckpt = _write_tiny(tmp_path, model, tiny_model_cfg(name), name='clip')
    inferencer = FeatureInferencer(cfg, ckpt, show_progress=False)
    tokens = inferencer(tiny['paths'][0])[0]
    pooled = inferencer(tiny['paths'][0], pooled=True)[0]
    with torch.no_grad():
        expected = model.contrastive_head.image_pool(tokens[None])[0, 0]
    assert pooled.shape == (32, ) and torch.allclose(pooled, expected, atol=1e-5)
    with pytest.raises(ValueError, match='no decoder'):
        ImageCaptionInferencer(cfg, ckpt)


def test_loccainferencer_pairs_text_lists(tiny):
    from locca_mm.apis import LocCaInferencer
    inferencer = LocCaInferencer(tiny['cfg'], tiny['ckpt'], show_progress=False)
    a, b, _ = tiny['paths']
    out = inferencer([a, a, b], task='ref', text=['x', 'y', 'z'], batch_size=2)['predictions']
    assert [p['text'] for p in out] == ['x', 'y', 'z']
    with pytest.raises(ValueError, match='2 texts for 3 images'):
        inferencer([a, a, b], task='ref', text=['x', 'y'])


def test_collate_fn_of_the_config_is_built(tiny, tmp_path):
    """The crash this guards against: a config naming ``collate_fn=dict(type='pseudo_collate')``."""
    from locca_mm.apis import ImageCaptionInferencer
    cfg = tmp_path / 'with_loader.py'
    cfg.write_text(f"_base_ = {tiny['cfg']!r}\n"
                   "test_dataloader = dict(collate_fn=dict(type='pseudo_collate'))\n")
    inferencer = ImageCaptionInferencer(str(cfg), tiny['ckpt'], show_progress=False)
    assert len(inferencer(tiny['paths'], batch_size=2)) == 3


# ---------------------------------------------------------------- tools/infer.py, every config
def _decoder_configs():
    """Shipped LocCa configs (relative names) whose model has a decoder."""
    names = []
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        rel = osp.relpath(path, osp.join(ROOT, 'configs'))
        if rel.split(osp.sep)[0] in NON_LOCCA:
            continue
        if Config.fromfile(path).model.get('head'):
            names.append(rel[:-3])
    return names


def _infer_tool():
    """What ``tools/infer.py`` runs (its ``main(argv)``; tests/test_apis/test_inferencer.py
    runs the tool itself)."""
    from locca_mm.cli import infer
    return infer


TOOL_TASKS = [('cap', []), ('ref', ['--text', 'the red one', '--text', 'the blue one']),
              ('gcap', ['--box', '2,3,30,40']), ('detect', ['--num-beams', '2']),
              ('feature', ['--pooled'])]


@pytest.mark.slow
def test_infer_tool_every_task_on_every_decoder_config(tiny, tmp_path):
    configs = _decoder_configs()
    assert len(configs) >= 10 and 'locca/locca_vit-tiny_1xb48-900it_shapes' in configs
    tool = _infer_tool()
    image = tiny['paths'][0]
    for name in configs:
        model_cfg = tiny_model_cfg(name)
        # The tiny decoder holds 32 tokens: drop a config's longer decoding budget.
        (model_cfg.get('test_cfg') or {}).pop('max_new_tokens', None)
        torch.manual_seed(0)
        model = MODELS.build(model_cfg)
        cfg, ckpt = _write_tiny(tmp_path, model, model_cfg, name=name.replace('/', '__'),
                                base=osp.join(ROOT, 'configs', f'{name}.py'))
        for task, extra in TOOL_TASKS:
            out_dir = tmp_path / 'out' / name.replace('/', '__') / task
            with contextlib.redirect_stdout(io.StringIO()):
                preds = tool.main([image, cfg, ckpt, '--task', task, '--out-dir', str(out_dir),
                                   '--batch-size', '2', *extra])
            where = f'{name} --task {task}'
            assert json.loads((out_dir / 'predictions.json').read_text()) == preds, where
            assert len(preds) == (2 if task == 'ref' else 1), where
            if task == 'feature':
                assert np.load(out_dir / 'features' / 'a.npy').shape == (32, ), where
                continue
            assert all(p['task'] == task for p in preds), where
            pictures = sorted(p.name for p in (out_dir / 'vis').iterdir())
            assert pictures == (['a.png', 'a_1.png'] if task == 'ref' else ['a.png']), where
            if task == 'ref':
                assert [p['text'] for p in preds] == ['the red one', 'the blue one'], where
                assert all(len(p['bbox']) == 4 for p in preds), where
            if task in ('cap', 'gcap'):
                assert isinstance(preds[0]['caption'], str), where
            if task == 'detect':
                assert 1 <= len(preds[0]['detections']) <= 2, where


def test_infer_tool_pairs_several_images_and_boxes(tiny, tmp_path):
    tool = _infer_tool()
    a, b, c = tiny['paths']
    with contextlib.redirect_stdout(io.StringIO()):
        preds = tool.main([a, b, tiny['cfg'], tiny['ckpt'], '--task', 'gcap', '--box', '1,1,9,9',
                           '--box', '2,2,20,20', '--out-dir', str(tmp_path)])
    assert [(osp.basename(p['image']), p['box']) for p in preds] == [
        ('a.jpg', [1, 1, 9, 9]), ('b.png', [2, 2, 20, 20])]
    from locca_mm.cli import SetupError
    with pytest.raises(SetupError, match='2 --box values for 3 images'):
        tool.main([a, b, c, tiny['cfg'], tiny['ckpt'], '--task', 'gcap', '--box', '1,1,9,9',
                   '--box', '2,2,20,20', '--out-dir', str(tmp_path)])


# ---------------------------------------------------------------- tools/test.py --show-dir
@pytest.mark.slow
def test_test_tool_show_dir_draws_every_test_sample(tmp_path):
    config = osp.join(ROOT, 'configs', 'shapes', 'rec_tiny_shapes.py')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = tmp_path / 'rec.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    show_dir = tmp_path / 'show'
    proc = run_tool(['test.py', config, str(ckpt), '--work-dir', str(tmp_path / 'work'),
                     '--show-dir', str(show_dir), '--cfg-options',
                     'test_dataloader.dataset.num_samples=3', 'test_dataloader.batch_size=2'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    pictures = sorted(show_dir.iterdir())
    assert len(pictures) == 3
    for path in pictures:
        picture = cv2.imread(str(path))
        # The 64-px image with the boxes, and the text panel under it.
        assert picture is not None and picture.shape[0] > 64 and picture.std() > 0
