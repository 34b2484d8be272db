"""The linear dense probe: patch labels, mIoU against mmseg's IoUMetric, a probe that learns."""
import numpy as np
import pytest
import torch

from locca_mm.datasets import SyntheticShapes
from locca_mm.evaluation import linear_dense_probe, mean_iou, patch_labels, position_share


def test_patch_labels_take_the_majority():
    labels = np.zeros((4, 4), dtype=np.uint8)
    labels[:2, :2] = [[2, 2], [2, 0]]  # top-left patch: three 2s, one 0 -> 2
    labels[:2, 2:] = 1  # top-right patch: all 1
    labels[2:, :2] = [[3, 3], [1, 1]]  # a tie between 1 and 3 -> the lower class
    assert patch_labels(labels, 2, 4).tolist() == [[2, 1], [1, 0]]
    with pytest.raises(ValueError, match='patches'):
        patch_labels(np.zeros((5, 4)), 2, 4)


def test_mean_iou_matches_mmseg():
    from mmseg.evaluation.metrics import IoUMetric
    rng = np.random.default_rng(0)
    num_classes = 5
    gt = rng.integers(0, 4, (3, 8, 8))  # class 4 never in the truth
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 5, gt.shape))
    ours, per_class = mean_iou(torch.as_tensor(pred), torch.as_tensor(gt), num_classes)
    metric = IoUMetric(iou_metrics=['mIoU'])
    results = [IoUMetric.intersect_and_union(torch.as_tensor(p), torch.as_tensor(g),
                                             num_classes, ignore_index=255)
               for p, g in zip(pred, gt)]
    totals = [sum(r[i] for r in results) for i in range(4)]
    ref = metric.total_area_to_metrics(*totals, ['mIoU'])
    assert ours == pytest.approx(float(np.nanmean(ref['IoU'])) * 100, abs=1e-4)  # float32
    assert np.allclose(per_class, ref['IoU'], equal_nan=True, atol=1e-6)


class _Patches(torch.nn.Module):
    """A stand-in encoder whose tokens are a fixed linear code of each patch's pixels."""

    def __init__(self, patch=8):
        super().__init__()
        self.patch = patch
        self.proj = torch.nn.Linear(3 * patch * patch, 24)
        self.training = False

    def extract_feat(self, x):
        p = self.patch
        b, c, h, w = x.shape
        patches = x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5)
        return self.proj(patches.reshape(b, (h // p) * (w // p), c * p * p))


def _shapes_split(ds, start, n):
    images, labels = [], []
    num_classes = len(ds.dense_classes())
    for i in range(start, start + n):
        shapes, _ = ds.scene(i)
        images.append(torch.from_numpy(ds.render(shapes, i)).permute(2, 0, 1).float() / 255)
        labels.append(torch.from_numpy(patch_labels(ds.label_map(shapes), 8, num_classes)))
    return torch.stack(images), torch.stack(labels)


@pytest.mark.slow
def test_probe_reads_what_the_tokens_carry():
    ds = SyntheticShapes(num_samples=400, seed=5)
    train, test = _shapes_split(ds, 0, 150), _shapes_split(ds, 200, 60)
    torch.manual_seed(0)
    informative_model = _Patches()
    informative = linear_dense_probe(informative_model, train, test, len(ds.dense_classes()),
                                     ds.dense_classes())
    # Tokens that carry no image information: the probe predicts the majority class.
    blind = _Patches()
    blind.extract_feat = lambda x: torch.randn(x.shape[0], 64, 24)
    chance = linear_dense_probe(blind, train, test, len(ds.dense_classes()))
    assert informative['miou'] > 25 and informative['miou'] > 2 * chance['miou']
    assert informative['per_class_iou']['background'] > 80
    assert set(informative) == {'miou', 'patch_acc', 'train_miou', 'per_class_iou',
                                'position_share'}
    # position_share of the test tokens, as the probe saw them.
    with torch.no_grad():
        tokens = informative_model.extract_feat(test[0])
    assert informative['position_share'] == pytest.approx(position_share(tokens), rel=1e-6)


def test_position_share_is_the_variance_position_explains():
    g = torch.Generator().manual_seed(0)
    table = torch.randn(1, 16, 8, generator=g)  # one vector per position
    noise = torch.randn(400, 16, 8, generator=g)
    assert position_share(table.expand(400, -1, -1)) == pytest.approx(100.0)
    # Position and noise of equal variance: half of it, up to sampling.
    assert position_share(table / table.std() + noise) == pytest.approx(50.0, abs=4.0)
    # Per-image content without position (the same vector at every patch): none.
    content = torch.randn(400, 1, 8, generator=g).expand(-1, 16, -1)
    assert position_share(content) == pytest.approx(0.0, abs=1e-9)
    # By hand on a 2-image, 2-patch, 1-d case: tokens 0, 2 / 2, 4 -> means 1, 3 around 2:
    # between-position variance 1, total (4 + 0 + 0 + 4) / 4 = 2.
    tokens = torch.tensor([[[0.0], [2.0]], [[2.0], [4.0]]])
    assert position_share(tokens) == pytest.approx(50.0)
