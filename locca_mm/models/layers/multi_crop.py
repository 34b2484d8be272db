"""MultiCropViews: SILC / DINO multi-crop augmentation of a normalised batch, on its device."""
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

from locca_mm.registry import MODELS

_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision's rgb_to_grayscale


class Views(NamedTuple):
    """The augmented views of a batch of B images.

    Attributes:
        global_view: [B, 3, Hg, Wg], one global crop per image (teacher and masked student).
        local_views: [V * B, 3, h, w], V local crops per image, view-major (rows
            ``v * B .. v * B + B - 1`` are the v-th crop of each image).
    """
    global_view: Tensor
    local_views: Tensor


@MODELS.register_module()
class MultiCropViews(nn.Module):
    """One global and ``num_local`` local random crops of each image, with DINO's photometric
    augmentations, computed on the batch tensor (no extra data through the loader; no cost
    before SigLIP 2's second stage switches the views on).

    Crops follow ``RandomResizedCrop`` (area ``scale``, aspect ``ratio``; ten tries, then
    the whole image), cut and resized for the whole batch at once by
    ``torchvision.ops.roi_align`` (bilinear, adaptive sampling: a shrink averages). Then,
    per view: horizontal flip (``flip_prob``); colour jitter with probability
    ``jitter_prob`` (brightness, contrast, saturation in that order, then hue as a
    rotation of the YIQ chroma plane — a fixed order and a linear hue shift where
    torchvision draws the order and rotates in HSV); grayscale (``gray_prob``); Gaussian
    blur (``blur_prob``, sigma drawn from ``blur_sigma`` scaled by the crop size / 224); and
    solarisation (``solarize_prob``). The global and local views have their own blur and
    solarisation probabilities, as in DINO. SigLIP 2 computes its SigLIP and LocCa
    losses on the unaugmented image, so boxes never meet these crops.

    Args:
        global_size (int, optional): side of the global crop; None: the input's size.
        local_size (int): side of the local crops. DINO: 96 for 224 inputs.
        num_local (int): local crops per image. SigLIP 2: 8.
        global_scale, local_scale (tuple): area fractions of the crops. DINO:
            (0.4, 1.0) and (0.05, 0.4).
        ratio (tuple): aspect ratio range. Defaults to (3/4, 4/3).
        flip_prob, jitter_prob, gray_prob (float): 0.5, 0.8, 0.2 (DINO).
        jitter (tuple): brightness, contrast, saturation, hue strengths: (0.4, 0.4, 0.2, 0.1).
        blur_prob (tuple): (global, local). DINO's first global view: 1.0; local: 0.5.
        solarize_prob (tuple): (global, local). Defaults to (0.0, 0.0) (DINO's first global
            view and its local views).
        blur_sigma (tuple): sigma range at 224 px. Defaults to (0.1, 2.0).
    """

    def __init__(self, global_size: Optional[int] = None, local_size: int = 96,
                 num_local: int = 8, global_scale: Tuple[float, float] = (0.4, 1.0),
                 local_scale: Tuple[float, float] = (0.05, 0.4),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3), flip_prob: float = 0.5,
                 jitter_prob: float = 0.8,
                 jitter: Sequence[float] = (0.4, 0.4, 0.2, 0.1), gray_prob: float = 0.2,
                 blur_prob: Tuple[float, float] = (1.0, 0.5),
                 solarize_prob: Tuple[float, float] = (0.0, 0.0),
                 blur_sigma: Tuple[float, float] = (0.1, 2.0)):
        super().__init__()
        if num_local < 0 or local_size < 1:
            raise ValueError(f'need num_local >= 0 and local_size >= 1, got {num_local}, '
                             f'{local_size}')
        for name, (lo, hi) in dict(global_scale=global_scale, local_scale=local_scale,
                                   ratio=ratio, blur_sigma=blur_sigma).items():
            if not 0 < lo <= hi:
                raise ValueError(f'{name} must be an increasing positive range, got {(lo, hi)}')
        self.global_size, self.local_size, self.num_local = global_size, local_size, num_local
        self.global_scale, self.local_scale = tuple(global_scale), tuple(local_scale)
        self.ratio, self.flip_prob, self.jitter_prob = tuple(ratio), flip_prob, jitter_prob
        self.jitter, self.gray_prob = tuple(jitter), gray_prob
        self.blur_prob, self.solarize_prob = tuple(blur_prob), tuple(solarize_prob)
        self.blur_sigma = tuple(blur_sigma)

    def forward(self, inputs: Tensor, mean: Tensor, std: Tensor) -> Views:
        """inputs: [B, 3, H, W] normalised as ``(x - mean) / std`` with pixel values in
        [0, 255] (``mean``/``std``: [3, 1, 1], the data preprocessor's) -> :class:`Views`,
        normalised the same way."""
        b, _, h, w = inputs.shape
        pixels = (inputs.float() * std + mean) / 255.0
        size = self.global_size or h
        global_view = self._augment(self._crop(pixels, 1, self.global_scale, size), 0)
        local = self._crop(pixels, self.num_local, self.local_scale, self.local_size)
        local_views = self._augment(local, 1)
        norm = lambda x: ((x * 255.0 - mean) / std).to(inputs.dtype)  # noqa: E731
        return Views(norm(global_view), norm(local_views))

    # ------------------------------------------------------------------ crops
    def _crop(self, pixels: Tensor, copies: int, scale, out: int) -> Tensor:
        """``copies`` RandomResizedCrop boxes per image -> [copies * B, 3, out, out]."""
        b, _, h, w = pixels.shape
        n = copies * b
        dev = pixels.device
        tries = 10
        area = h * w * torch.empty(n, tries, device=dev).uniform_(*scale)
        log_r = torch.empty(n, tries, device=dev).uniform_(math.log(self.ratio[0]),
                                                           math.log(self.ratio[1]))
        aspect = log_r.exp()
        cw = (area * aspect).sqrt().round()
        ch = (area / aspect).sqrt().round()
        ok = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
        first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((n, ), -1, device=dev))
        pick = first.clamp(min=0)[:, None]
        cw = torch.where(first >= 0, cw.gather(1, pick)[:, 0], torch.full((n, ), float(w),
                                                                          device=dev))
        ch = torch.where(first >= 0, ch.gather(1, pick)[:, 0], torch.full((n, ), float(h),
                                                                          device=dev))
        x0 = (torch.rand(n, device=dev) * (w - cw + 1)).floor()
        y0 = (torch.rand(n, device=dev) * (h - ch + 1)).floor()
        idx = torch.arange(b, device=dev).repeat(copies).float()
        boxes = torch.stack([idx, x0, y0, x0 + cw, y0 + ch], 1)
        return roi_align(pixels, boxes, (out, out), spatial_scale=1.0, sampling_ratio=-1,
                         aligned=True)

    # ------------------------------------------------------------------ photometric
    def _augment(self, x: Tensor, kind: int) -> Tensor:
        """Flip, colour jitter, grayscale, blur and solarisation, each drawn per view."""
        n = x.shape[0]
        dev = x.device

        def draw(p):
            return (torch.rand(n, device=dev) < p)[:, None, None, None]

        x = torch.where(draw(self.flip_prob), x.flip(-1), x)
        jit = draw(self.jitter_prob)
        bri, con, sat, hue = self.jitter

        def factor(s):
            return torch.empty(n, 1, 1, 1, device=dev).uniform_(max(0.0, 1 - s), 1 + s)

        y = (x * factor(bri)).clamp(0, 1)
        m = _gray(y).mean((2, 3), keepdim=True)
        y = ((y - m) * factor(con) + m).clamp(0, 1)
        g = _gray(y)
        y = ((y - g) * factor(sat) + g).clamp(0, 1)
        theta = torch.empty(n, device=dev).uniform_(-hue, hue) * 2 * math.pi
        y = _rotate_hue(y, theta).clamp(0, 1)
        x = torch.where(jit, y, x)
        x = torch.where(draw(self.gray_prob), _gray(x).expand_as(x), x)
        x = self._blur(x, draw(self.blur_prob[kind]))
        return torch.where(draw(self.solarize_prob[kind]) & (x >= 0.5), 1.0 - x, x)

    def _blur(self, x: Tensor, chosen: Tensor) -> Tensor:
        """Separable Gaussian blur of the chosen views, each with its own sigma."""
        n, c, h, w = x.shape
        scale = h / 224.0
        sigma = torch.empty(n, device=x.device).uniform_(*self.blur_sigma) * scale
        radius = max(1, min(int(math.ceil(3 * self.blur_sigma[1] * scale)), (min(h, w) - 1) // 2))
        t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        k = torch.exp(-0.5 * (t[None] / sigma[:, None])**2)
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [n * c, 2r + 1]
        flat = x.reshape(1, n * c, h, w)
        flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode='reflect'),
                        k[:, None, None, :], groups=n * c)
        flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode='reflect'),
                        k[:, None, :, None], groups=n * c)
        return torch.where(chosen, flat.reshape(n, c, h, w), x)


def _gray(x: Tensor) -> Tensor:
    """[N, 3, H, W] -> [N, 1, H, W] luma."""
    r, g, b = x.unbind(1)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b)[:, None]


def _rotate_hue(x: Tensor, theta: Tensor) -> Tensor:
    """Rotate each view's chroma (the I, Q axes of YIQ) by ``theta`` [N] radians."""
    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                           [0.211, -0.523, 0.312]])
    yiq = torch.einsum('ij,njhw->nihw', to_yiq, x)
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], 1)
    return torch.einsum('ij,njhw->nihw', torch.linalg.inv(to_yiq), yiq)
