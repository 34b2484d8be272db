"""LocCaVisualizationHook's helpers (engine/hooks/visualization_hook.py): a unique picture
name per sample, and the image in its original frame."""
import cv2
import numpy as np
import torch

from locca_mm.engine.hooks.visualization_hook import original_image, picture_name
from locca_mm.structures import LocCaDataSample


def test_picture_name_is_the_image_name_and_sample_index():
    sample = LocCaDataSample(metainfo=dict(img_path='/data/images/cat.jpg', sample_idx=7))
    assert picture_name(sample, 'batch0_0') == 'cat_7'
    assert picture_name(LocCaDataSample(), 'batch0_0') == 'batch0_0'


def test_original_image_reads_the_file_or_resizes_the_model_input(tmp_path):
    path = str(tmp_path / 'img.png')
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    cv2.imwrite(path, bgr)
    sample = LocCaDataSample(metainfo=dict(img_path=path, ori_shape=(6, 8)))
    rgb = original_image(sample)
    assert rgb.shape == (6, 8, 3) and (rgb[..., 2] == 255).all()  # returned as RGB
    model_input = torch.from_numpy(bgr).permute(2, 0, 1)[:, :3, :4]  # a 3x4 input, BGR
    resized = original_image(LocCaDataSample(metainfo=dict(ori_shape=(6, 8))), model_input)
    assert resized.shape == (6, 8, 3) and (resized[..., 2] == 255).all()
    assert original_image(LocCaDataSample()) is None
