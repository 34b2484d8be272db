"""Adafactor as Scaling ViT and big_vision train with it (LocCa's pretraining optimizer)."""
import itertools
from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.optim import Optimizer

from locca_mm.registry import OPTIMIZERS

__all__ = ['ScalingViTAdafactor', 'second_moment_decay']


def second_moment_decay(step: int, decay_rate: float = 0.8, beta2_cap: float = 0.999) -> float:
    """β2 of step ``step`` (counted from 1): ``min(beta2_cap, 1 - step ** -decay_rate)``.

    β2 is 0 at step 1, so the first second moment is the squared gradient itself
    and no bias correction is needed.
    """
    return min(beta2_cap, 1.0 - step**-decay_rate)


def _to_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    """``'bfloat16'`` → ``torch.bfloat16`` (configs name dtypes as strings)."""
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f'momentum_dtype must be a floating-point dtype, got {dtype!r}')
    return resolved


@OPTIMIZERS.register_module(name=['ScalingViTAdafactor', 'BigVisionAdafactor'])
class ScalingViTAdafactor(Optimizer):
    """Adafactor with momentum and an absolute learning rate (Zhai et al., Scaling ViT, 2022).

    The variant big_vision names ``big_vision.scale_by_adafactor`` and trains
    ViT-g, CapPa and LocCa with, with big_vision's defaults. Per parameter ``p``
    with gradient ``g`` at step ``t`` (from 1), ``a < b`` the indices of its two
    largest dims::

        β2_t = min(beta2_cap, 1 - t ** -decay_rate)
        factored (p.dim() >= 2 and size(a), size(b) >= min_dim_size_to_factor):
            r = β2_t r + (1 - β2_t) mean_b(g² + eps)              r: size 1 on dim b
            c = β2_t c + (1 - β2_t) mean_a(g² + eps)              c: size 1 on dim a
            u = g · rsqrt(r / mean_a(r)) · rsqrt(c)
        otherwise:
            v = β2_t v + (1 - β2_t) (g² + eps)                    v: like p
            u = g · rsqrt(v)
        u = u / max(1, RMS(u) / clipping_threshold)               if clipping_threshold
        m = β1 m + (1 - β1) u;  u = m                             if beta1 (no debiasing)
        p = p - lr · u - lr · weight_decay · p

    What it changes from Shazeer & Stern's Adafactor (Scaling ViT, Sec. 3.5):
    first-moment momentum is back, the step size is ``lr`` itself rather than
    relative to the parameter's RMS, and weight decay is decoupled. The
    momentum averages the (clipped) updates before the learning rate scales
    them, as in big_vision, so a schedule acts on the whole step at once.

    As big_vision (``scale_by_adafactor``'s defaults): factoring from dims of
    32, over the two largest dims; no update clipping (the configs clip the
    gradient's global norm at 1.0 instead, as big_vision's configs do);
    ``decay_rate`` 0.8 and ``beta2_cap`` 0.999; ``eps`` 1e-30 added to g².
    ``tests/test_engine/test_adafactor.py`` checks several steps against timm's
    ``AdafactorBigVision``, a port of big_vision's. Where it differs, deliberately:

    - ``weight_decay`` is multiplied by the current ``lr`` (the base lr times
      any mmengine schedule and layer-decay factor), as torch's decoupled
      decay is (timm's default too); big_vision multiplies its ``wd`` by the
      schedule only, so its ``config.wd`` is ``weight_decay * config.lr`` here.
    - The momentum is kept in float32 (big_vision: bfloat16; pass
      ``momentum_dtype='bfloat16'``).
    - Second moments of float16/bfloat16 parameters are kept in float32: their
      squared gradients underflow in half precision and ``eps = 1e-30`` is
      below float16's range.

    Against ``torch.optim.Adafactor``: with ``beta1=None``, ``beta2_cap=1``,
    ``min_dim_size_to_factor=1`` (torch factors every ≥2-D parameter),
    ``clipping_threshold=d`` (or None for ``d=inf``) and the same ``lr``,
    ``weight_decay`` and ``beta2_decay=-decay_rate``, this optimizer gives
    torch's parameters given ``eps=(1e-30, 1.0)`` there, as long as
    ``lr <= 1/sqrt(t)`` and every parameter's RMS stays ≤ 1. Torch's step is
    relative, ``max(eps2, RMS(p)) · min(lr, 1/sqrt(t))``; those two conditions
    make it ``lr``. Torch's epsilon clamps the variance estimate instead of
    being added to ``g²``, which differs only for gradients near 1e-15.

    Args:
        params (iterable): Parameters or param-group dicts.
        lr (float): Absolute step size. Defaults to 1e-3.
        beta1 (float, optional): Momentum of the updates; None (or 0) keeps
            no momentum buffer. Defaults to 0.9.
        decay_rate (float): Exponent of the β2 schedule. Defaults to 0.8.
        beta2_cap (float): Upper bound of β2, in (0, 1]. Defaults to 0.999.
        eps (float): Added to the squared gradient. Defaults to 1e-30.
        clipping_threshold (float, optional): Largest RMS of an update before
            momentum; None (default, as big_vision) turns clipping off.
        weight_decay (float): Decoupled weight decay, multiplied by ``lr``.
            Defaults to 0.0.
        min_dim_size_to_factor (int): A ≥2-D parameter whose two largest dims
            are both at least this has a factored second moment; others keep a
            full one. Defaults to 32 (big_vision).
        momentum_dtype (torch.dtype | str): dtype of the momentum buffer.
            Defaults to torch.float32.

    Example:
        >>> optim_wrapper = dict(optimizer=dict(
        ...     type='ScalingViTAdafactor', lr=1e-3, weight_decay=1e-4))
    """

    def __init__(self,
                 params,
                 lr: float = 1e-3,
                 beta1: Optional[float] = 0.9,
                 decay_rate: float = 0.8,
                 beta2_cap: float = 0.999,
                 eps: float = 1e-30,
                 clipping_threshold: Optional[float] = None,
                 weight_decay: float = 0.0,
                 min_dim_size_to_factor: int = 32,
                 momentum_dtype: Union[torch.dtype, str] = torch.float32):
        if not lr >= 0:
            raise ValueError(f'lr must be >= 0, got {lr}')
        if beta1 is not None and not 0 <= beta1 < 1:
            raise ValueError(f'beta1 must be None or in [0, 1), got {beta1}')
        if not decay_rate >= 0:
            raise ValueError(f'decay_rate must be >= 0, got {decay_rate}')
        if not 0 < beta2_cap <= 1:
            raise ValueError(f'beta2_cap must be in (0, 1], got {beta2_cap}')
        if not eps > 0:
            raise ValueError(f'eps must be > 0, got {eps}')
        if clipping_threshold is not None and not clipping_threshold > 0:
            raise ValueError(f'clipping_threshold must be None or > 0, got {clipping_threshold}')
        if not weight_decay >= 0:
            raise ValueError(f'weight_decay must be >= 0, got {weight_decay}')
        if not min_dim_size_to_factor >= 1:
            raise ValueError(f'min_dim_size_to_factor must be >= 1, got {min_dim_size_to_factor}')
        defaults = dict(
            lr=lr,
            beta1=beta1,
            decay_rate=decay_rate,
            beta2_cap=beta2_cap,
            eps=eps,
            clipping_threshold=clipping_threshold,
            weight_decay=weight_decay,
            min_dim_size_to_factor=min_dim_size_to_factor,
            # By name: an optimizer state of plain values (torch.distributed's state-dict
            # gathering, FSDP's, takes no torch.dtype).
            momentum_dtype=str(_to_dtype(momentum_dtype)).removeprefix('torch.'))
        super().__init__(params, defaults)

    @staticmethod
    def factored_dims(shape, min_dim_size_to_factor: int) -> Optional[Tuple[int, int]]:
        """The two largest dims of ``shape`` (later dims win ties), in index order, or
        None when ``shape`` has fewer than 2 dims or the smaller of the two is below
        ``min_dim_size_to_factor`` (big_vision's ``_factored_dims``). Which of the two
        is called row or column does not change the update (it is symmetric in them);
        index order keeps a matrix's moments ``[R, 1]`` and ``[1, C]``."""
        if len(shape) < 2:
            return None
        order = sorted(range(len(shape)), key=lambda i: (shape[i], i))
        a, b = sorted(order[-2:])
        return (a, b) if min(shape[a], shape[b]) >= min_dim_size_to_factor else None

    def _init_state(self, p: Tensor, group: dict) -> dict:
        """Zero moments: factored ``row_var`` (dim b reduced) / ``col_var`` (dim a reduced),
        or a full ``variance``."""
        state = self.state[p]
        state['step'] = 0
        dtype = torch.promote_types(p.dtype, torch.float32)
        dims = self.factored_dims(p.shape, group['min_dim_size_to_factor'])
        if dims is not None:
            a, b = dims
            state['row_var'] = p.new_zeros([1 if i == b else n for i, n in enumerate(p.shape)],
                                           dtype=dtype)
            state['col_var'] = p.new_zeros([1 if i == a else n for i, n in enumerate(p.shape)],
                                           dtype=dtype)
        else:
            state['variance'] = torch.zeros_like(p, dtype=dtype,
                                                 memory_format=torch.preserve_format)
        if group['beta1']:
            state['exp_avg'] = torch.zeros_like(p, dtype=_to_dtype(group['momentum_dtype']),
                                                memory_format=torch.preserve_format)
        return state

    def _scaled_gradient(self, grad: Tensor, state: dict, group: dict, beta2: float) -> Tensor:
        """``g / sqrt(v̂)`` after folding ``g`` into the second moment (a new tensor)."""
        eps = group['eps']
        if 'row_var' in state:
            a, b = self.factored_dims(grad.shape, group['min_dim_size_to_factor'])
            # mean(g², dim) as a norm: no temporary the size of g for g² (as torch does).
            # Out of place on the (factor-sized) norms: a sharded gradient's norm is a
            # partial sum (FSDP2's DTensor), which in-place arithmetic cannot redistribute.
            row_var, col_var = state['row_var'], state['col_var']
            row_mean = torch.linalg.vector_norm(grad, dim=b, keepdim=True).square()
            row_var.lerp_(row_mean.div(grad.size(b)).add(eps), 1 - beta2)
            col_mean = torch.linalg.vector_norm(grad, dim=a, keepdim=True).square()
            col_var.lerp_(col_mean.div(grad.size(a)).add(eps), 1 - beta2)
            # rsqrt of each factor rather than of r·c: r·c underflows when both are ~eps.
            row_factor = row_var.div(row_var.mean(dim=a, keepdim=True)).rsqrt_()
            return grad.mul(row_factor).mul_(col_var.rsqrt())
        variance = state['variance']
        variance.lerp_(grad.square().add_(eps), 1 - beta2)
        return grad.mul(variance.rsqrt())

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:
        """Update every parameter that has a gradient.

        Args:
            closure (callable, optional): Re-evaluates the model, returns the loss.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, beta1 = group['lr'], group['beta1']
            threshold, weight_decay = group['clipping_threshold'], group['weight_decay']
            for p in group['params']:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError('ScalingViTAdafactor does not support sparse gradients')
                if torch.is_complex(p):
                    raise RuntimeError('ScalingViTAdafactor does not support complex parameters')
                state = self.state[p] or self._init_state(p, group)
                state['step'] += 1
                beta2 = second_moment_decay(state['step'], group['decay_rate'],
                                            group['beta2_cap'])
                dtype = torch.promote_types(p.dtype, torch.float32)
                update = self._scaled_gradient(p.grad.to(dtype), state, group, beta2)
                if threshold is not None:
                    # A tensor divisor keeps the clip on the device (no host sync).
                    rms = torch.linalg.vector_norm(update) / update.numel()**0.5
                    update.div_((rms / threshold).clamp(min=1.0))
                if beta1:
                    exp_avg = state['exp_avg']
                    exp_avg.lerp_(update.to(exp_avg.dtype), 1 - beta1)
                    update = exp_avg
                if weight_decay:
                    p.mul_(1 - lr * weight_decay)
                p.add_(update.to(p.dtype), alpha=-lr)
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a :meth:`state_dict`, keeping each state tensor's saved dtype.

        ``torch.optim.Optimizer`` casts floating-point state to the parameter's
        dtype; that would round float32 moments of bfloat16 parameters (or a
        momentum in another dtype) and a resumed run would drift from an
        uninterrupted one.
        """
        super().load_state_dict(state_dict)
        saved_ids = itertools.chain.from_iterable(g['params'] for g in state_dict['param_groups'])
        params = itertools.chain.from_iterable(g['params'] for g in self.param_groups)
        for saved_id, p in zip(saved_ids, params):
            for key, value in state_dict['state'].get(saved_id, {}).items():
                if torch.is_tensor(value):
                    self.state[p][key] = value.to(device=p.device)
