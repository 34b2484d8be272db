"""Mixed precision that also runs on CPU (what ``tools/train.py --amp`` selects)."""
from typing import Optional, Union

import torch
from mmengine.device import is_cuda_available
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from locca_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` that falls back to bfloat16 autocast on CPU.

    mmengine's ``AmpOptimWrapper`` refuses to start without an accelerator.
    With CUDA this class is exactly that wrapper (float16 with dynamic loss
    scaling by default, or ``dtype='bfloat16'``). On CPU it autocasts to
    bfloat16, the only dtype CPU autocast supports, and needs no loss scaling
    (bfloat16 has float32's exponent range): the scaler is a disabled
    ``torch.amp.GradScaler``, so backward/step/state_dict keep their shape.

    Args:
        loss_scale (str | float | dict): Loss scaling on GPU. Defaults to 'dynamic'.
        dtype (str | torch.dtype, optional): Autocast dtype. Defaults to float16
            on GPU and bfloat16 on CPU; float16 on CPU raises ValueError.
        use_fsdp (bool): Use the sharded grad scaler (GPU). Defaults to False.
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 **kwargs):
        if is_cuda_available():
            super().__init__(loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)
            return
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype not in (None, torch.bfloat16):
            raise ValueError(f'CPU autocast supports only bfloat16, got dtype={dtype}')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.cast_dtype = torch.bfloat16
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
