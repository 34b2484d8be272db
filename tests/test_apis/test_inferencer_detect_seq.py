"""LocCaInferencer runs 'detect_seq': every object of an image in one GCap sequence."""
import cv2
import numpy as np
import torch

from tests.test_models.utils import build_tiny, randomize_logits, tiny_model_cfg


def _files(root, test_cfg):
    model = randomize_logits(build_tiny(), std=3.0)
    torch.save({'state_dict': model.state_dict()}, root / 'tiny.pth')
    cfg = tiny_model_cfg()
    cfg['test_cfg'] = dict(cfg.get('test_cfg') or {}, **test_cfg)
    (root / 'tiny.py').write_text(f"default_scope = 'locca_mm'\nmodel = {cfg!r}\n")
    img = root / 'a.jpg'
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return str(root / 'tiny.py'), str(root / 'tiny.pth'), str(img)


def test_inferencer_detect_seq_returns_detections_within_the_image(tmp_path):
    from locca_mm.apis import LocCaInferencer
    found = 0
    for test_cfg in ({}, dict(max_boxes=2, classes=['dog', 'cat'])):
        cfg, ckpt, img = _files(tmp_path, test_cfg)
        inferencer = LocCaInferencer(cfg, ckpt, show_progress=False)
        out = inferencer([img, img], task='detect_seq', batch_size=2,
                         pred_out_file=str(tmp_path / 'preds.json'))
        for pred in out['predictions']:
            found += len(pred['detections'])
            assert pred['task'] == 'detect_seq'
            assert len(pred['detections']) <= test_cfg.get('max_boxes', 25)
            for det in pred['detections']:
                x1, y1, x2, y2 = det['bbox']
                assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 48 and 0 <= det['score'] <= 1
                assert det['text'] in test_cfg.get('classes', [det['text']])
        assert (tmp_path / 'preds.json').exists()
    assert found  # something was detected, and checked
