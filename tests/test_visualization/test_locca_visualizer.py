"""LocCaVisualizer (visualization/locca_visualizer.py): boxes on the image, text in a panel."""
import numpy as np
import torch
from mmengine.structures import InstanceData

from locca_mm.structures import LocCaDataSample
from locca_mm.visualization import LocCaVisualizer
from locca_mm.visualization.locca_visualizer import with_text_panel


def _sample() -> LocCaDataSample:
    sample = LocCaDataSample()
    sample.task = 'detect'
    sample.gt_caption = 'a red circle'
    sample.pred_instances = InstanceData(bboxes=torch.tensor([[4., 4., 20., 20.]]),
                                         scores=torch.tensor([0.9]), texts=['circle'])
    return sample


def test_text_panel_grows_the_picture_and_keeps_the_image():
    image = np.zeros((32, 48, 3), np.uint8)
    out = with_text_panel(image, ['one line', 'x' * 200])
    assert out.shape[1] == 320 and out.shape[0] > 32  # at least 320 wide, panel below
    assert (out[:32, :48] == 0).all()
    assert with_text_panel(image, []) is image


def test_draw_sample_draws_predictions_with_and_without_the_panel():
    vis = LocCaVisualizer(name='test_locca_visualizer')
    image = np.zeros((64, 64, 3), np.uint8)
    panel = vis.draw_sample(image, _sample(), gt_frame='original')
    assert panel.shape[0] > 64 and panel.shape[2] == 3
    assert panel[:64, :64].any()  # the predicted box is drawn
    inline = vis.draw_sample(image, _sample(), gt_frame='original', text_panel=False)
    assert inline.shape == image.shape
