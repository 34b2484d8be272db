"""LocCaDataSample and the box frames: input frame <-> original image."""
import pytest
import torch
from mmengine.structures import InstanceData

from locca_mm.structures import LocCaDataSample, box_frame, to_input_frame, to_original


def test_instances_fields_are_typed():
    ds = LocCaDataSample()
    ds.pred_instances = InstanceData(bboxes=torch.zeros(1, 4))
    assert 'pred_instances' in ds
    with pytest.raises(AssertionError):
        ds.gt_instances = torch.zeros(1)


def test_box_frame_is_the_padded_input_if_padded():
    assert box_frame(dict(img_shape=(30, 40))) == (30, 40)
    assert box_frame(dict(img_shape=(30, 40), pad_shape=(32, 48))) == (32, 48)
    with pytest.raises(KeyError, match='pad_shape'):
        box_frame({})


def test_boxes_go_to_the_input_frame_and_back_clipped_to_the_image():
    meta = dict(img_shape=(32, 32), ori_shape=(64, 128), scale_factor=(0.25, 0.5))
    box = torch.tensor([[8., 4., 100., 60.]])
    inside = to_input_frame(box, meta)
    assert torch.equal(inside, torch.tensor([[2., 2., 25., 30.]]))
    assert torch.equal(to_original(inside, meta), box)
    assert torch.equal(to_original(torch.tensor([[-4., 0., 40., 40.]]), meta),
                       torch.tensor([[0., 0., 128., 64.]]))
    # A single scale factor scales both sides.
    assert torch.equal(to_input_frame(box, dict(scale_factor=2.0)), box * 2)


def test_the_old_import_path_still_works():
    from locca_mm.models.heads import to_input_frame as old_in
    from locca_mm.models.heads import to_original as old_out
    assert old_in is to_input_frame and old_out is to_original


@pytest.mark.parametrize('direction,expected', [
    ('horizontal', [[30., 6., 54., 22.]]),   # x: 32 - 17 = 15 .. 32 - 5 = 27, then / 0.5
    ('vertical', [[10., 42., 34., 58.]]),    # y: 32 - 11 = 21 .. 32 - 3 = 29
    ('diagonal', [[30., 42., 54., 58.]]),    # both
])
def test_flipped_boxes_map_back_and_forth(direction, expected):
    from locca_mm.structures.data_sample import to_input_frame, to_original
    meta = dict(img_shape=(32, 32), ori_shape=(64, 64), scale_factor=(0.5, 0.5), flip=True,
                flip_direction=direction)
    box = torch.tensor([[5., 3., 17., 11.]])  # input frame
    orig = to_original(box, meta)
    assert orig.tolist() == expected
    assert torch.equal(to_input_frame(orig, meta), box)
