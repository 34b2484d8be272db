"""The COCO detection fine-tuning config: it trains from a whole pretrained LocCa, changes
its encoder, and evaluates 'detect_seq' predictions as COCO box mAP."""
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, tool_env

CONFIG = 'configs/coco_detection/gcap-detect-seq-finetune_locca-vit-b_coco.py'
NAME = 'coco_detection__gcap-detect-seq-finetune_locca-vit-b_coco'


def test_the_config_asks_for_25_coco_names_within_the_decoders_positions():
    from mmdet.datasets import CocoDataset
    from mmengine.config import Config

    from locca_mm.tokenizers import LocCaTokenizer
    from locca_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    test_cfg = cfg.model.test_cfg
    assert test_cfg.task == 'detect_seq' and test_cfg.max_boxes == 25
    assert tuple(test_cfg.classes) == CocoDataset.METAINFO['classes']
    assert cfg.val_dataloader.dataset.eval_task == 'detect_seq'
    assert cfg.load_from and cfg.optim_wrapper.constructor == 'LayerDecayOptimWrapperConstructor'
    tok = LocCaTokenizer(**{k: v for k, v in cfg.model.tokenizer.items() if k != 'type'})
    longest = max(len(tok.text_tokenizer.encode(' ' + c)) for c in test_cfg.classes)
    # 25 pairs of the longest name, the prefix and eos fit the sequence and the decoder.
    sep = len(tok.text_tokenizer.encode(tok.separator))
    need = len(tok.prompt('gcap')) + 25 * (4 + sep + longest) + 1
    assert need <= tok.max_length['gcap'] <= cfg.model.head.decoder.max_len
    assert any(t['type'] == 'BuildDetectionSequence' and t['max_boxes'] == 25
               for t in cfg.train_dataloader.dataset.pipeline)


@pytest.mark.slow
def test_two_iterations_change_the_encoder_and_evaluate(tmp_path):
    proc = subprocess.run([sys.executable, '-m', 'tests.config_runs', str(tmp_path), CONFIG],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{')]
    assert lines, proc.stderr[-3000:]
    result = json.loads(lines[-1])
    assert 'error' not in result, result['error']
    assert result['trained'] and result['tested']
    assert 'val/gcap_det/bbox_mAP' in result['validated']
    assert 'gcap_det/bbox_mAP' in result['metrics']
    start = torch.load(tmp_path / f'{NAME}_model.pth', weights_only=True)['state_dict']
    end = torch.load(tmp_path / NAME / 'iter_2.pth', weights_only=True)['state_dict']
    encoder = [k for k in start if k.startswith('backbone.')]
    changed = [k for k in encoder if not torch.equal(start[k], end[k])]
    assert encoder and changed == encoder  # every encoder tensor was fine-tuned
    # ...a little, from the loaded weights (load_from took the whole model, decoder too).
    for k in encoder + [k for k in start if k.startswith('head.')]:
        assert (start[k].float() - end[k].float()).abs().max() < 1e-2, k
