"""A frozen-encoder linear dense probe: each patch token classified, scored by mIoU.

The paper compares frozen encoders on dense prediction (ADE20k with a linear head);
this is that comparison in miniature for any labelled image set: the encoder's
patch tokens are frozen features, a linear classifier (multinomial logistic
regression, full-batch L-BFGS: a convex problem, so the score hardly depends on a
seed) learns each patch's class, and the mean IoU over classes is measured on
held-out images. A patch's class is the majority label of its pixels.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['patch_labels', 'encode_patches', 'fit_linear_probe', 'mean_iou',
           'linear_dense_probe', 'position_share']


def patch_labels(label_map: np.ndarray, patch: int, num_classes: int) -> np.ndarray:
    """[H, W] pixel labels -> [H / patch, W / patch] majority label of each patch
    (ties go to the lower class id)."""
    h, w = label_map.shape
    if h % patch or w % patch:
        raise ValueError(f'a {h}x{w} label map does not split into {patch}-px patches')
    blocks = label_map.reshape(h // patch, patch, w // patch, patch).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(h // patch, w // patch, patch * patch).astype(np.int64)
    counts = np.stack([(blocks == c).sum(-1) for c in range(num_classes)], -1)
    return counts.argmax(-1)


@torch.no_grad()
def encode_patches(model, images: Tensor, batch_size: int = 100) -> Tensor:
    """[N, 3, H, W] preprocessed images -> [N, h * w, D] patch tokens of ``model``'s
    encoder (``model.extract_feat``), in eval mode, on the CPU (the model may be on a GPU)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        return torch.cat([model.extract_feat(images[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


def position_share(tokens: Tensor) -> float:
    """The share (in %) of the variance of ``tokens: [N, P, D]`` (N images, P patches)
    that patch position explains: the variance of the per-position mean token over the
    total, i.e. the R² of the best fit of every token by one vector per position.

    100 for tokens that depend on position only, 0 for tokens whose mean is the same
    at every position (position is then not in them linearly at all)."""
    x = tokens.double()
    centred = x - x.mean((0, 1))
    total = centred.square().sum(-1).mean()
    between = centred.mean(0).square().sum(-1).mean()
    return float(between / total.clamp(min=1e-30) * 100)


def fit_linear_probe(features: Tensor, labels: Tensor, num_classes: int,
                     weight_decay: float = 1e-4, max_iter: int = 200) -> torch.nn.Linear:
    """A linear classifier on standardised ``features: [M, D]`` for ``labels: [M]``.

    Full-batch L-BFGS on the mean cross-entropy plus ``weight_decay / 2 · |W|²``;
    the standardisation (train mean and std) is folded into the returned layer.
    """
    x = features.float()
    mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
    x = (x - mean) / std
    linear = torch.nn.Linear(x.shape[1], num_classes)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optim = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter,
                              history_size=20, line_search_fn='strong_wolfe')

    def closure():
        """L-BFGS's re-evaluation: the regularised cross-entropy and its gradients."""
        optim.zero_grad()
        loss = F.cross_entropy(linear(x), labels) + \
            0.5 * weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optim.step(closure)
    with torch.no_grad():  # fold the standardisation into the layer
        linear.weight.div_(std)
        linear.bias.sub_(linear.weight @ mean)
    return linear


def mean_iou(pred: Tensor, gt: Tensor, num_classes: int) -> Tuple[float, np.ndarray]:
    """Mean IoU (in %) over the classes present in ``gt`` or ``pred``, and the per-class
    IoU (NaN for a class in neither), as mmseg's ``IoUMetric`` totals them."""
    pred, gt = pred.flatten().long(), gt.flatten().long()
    inter = torch.bincount(gt[pred == gt], minlength=num_classes).double()
    area_pred = torch.bincount(pred, minlength=num_classes).double()
    area_gt = torch.bincount(gt, minlength=num_classes).double()
    union = area_pred + area_gt - inter
    iou = (inter / union).numpy()  # NaN where the union is empty
    return float(np.nanmean(iou) * 100), iou


def linear_dense_probe(model, train: Tuple[Tensor, Tensor], test: Tuple[Tensor, Tensor],
                       num_classes: int, class_names: Optional[Sequence[str]] = None,
                       weight_decay: float = 1e-4) -> Dict[str, object]:
    """Fit on ``train = (images [N, 3, H, W], patch labels [N, h, w])``, score on ``test``.

    Returns:
        dict: ``miou`` (%), ``patch_acc`` (% of test patches right),
        ``per_class_iou`` (class name -> % or None), ``train_miou`` and
        ``position_share`` (:func:`position_share` of the test tokens, %).
    """
    def tokens_and_labels(split):
        """(patch tokens [N * h * w, D], their labels) of one (images, label maps) split."""
        images, labels = split
        feats = encode_patches(model, images)
        if feats.shape[1] != labels[0].numel():
            raise ValueError(f'{feats.shape[1]} patch tokens but {labels[0].numel()} patch '
                             'labels an image')
        return feats, labels.flatten().long()

    x_train, y_train = tokens_and_labels(train)
    x_test, y_test = tokens_and_labels(test)
    share = position_share(x_test)
    x_train, x_test = x_train.flatten(0, 1), x_test.flatten(0, 1)
    probe = fit_linear_probe(x_train, y_train, num_classes, weight_decay)
    with torch.no_grad():
        pred_test = probe(x_test.float()).argmax(-1)
        pred_train = probe(x_train.float()).argmax(-1)
    miou, per_class = mean_iou(pred_test, y_test, num_classes)
    names = class_names or [str(c) for c in range(num_classes)]
    return dict(miou=miou, patch_acc=float((pred_test == y_test).float().mean() * 100),
                train_miou=mean_iou(pred_train, y_train, num_classes)[0],
                position_share=share,
                per_class_iou={n: None if np.isnan(v) else round(float(v) * 100, 2)
                               for n, v in zip(names, per_class)})
