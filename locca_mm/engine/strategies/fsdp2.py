"""FSDP2Strategy: fully sharded data parallel (``fully_shard``) for mmengine's FlexibleRunner."""
import time
from typing import Callable, Optional, Sequence

import mmengine
import torch
import torch.nn as nn
from mmengine._strategy import DDPStrategy
from mmengine.device import get_device
from mmengine.dist import get_rank

from locca_mm.registry import STRATEGIES


@STRATEGIES.register_module()
class FSDP2Strategy(DDPStrategy):
    """Shard parameters, gradients and optimizer state over the ranks (FSDP2).

    mmengine 0.10.7 ships an FSDP strategy built on torch's first FSDP, which
    needs a GPU. This one applies ``torch.distributed.fsdp.fully_shard`` to
    every transformer block (``shard_modules``) and then to the whole model,
    so it also runs on CPU processes with gloo (tested) and on GPUs with nccl.
    The model stays the model (``train_step`` unchanged); its parameters
    become sharded ``DTensor`` s.

    Checkpoints hold full (unsharded) tensors gathered from every rank and are
    written by rank 0, so they load into an unsharded model, into this
    strategy at another world size, or into ``LocCaViT`` by prefix.

    Args:
        shard_modules (Sequence[str]): class names of the submodules sharded
            one by one (each gathers its parameters only while it runs).
            Decoder blocks stay in the model's own unit: their cross-attention
            keys/values are projected once per image outside the blocks'
            forward (shared by the task rows), which a per-block unit would
            not have gathered.
        mixed_precision (str, optional): ``'bfloat16'`` or ``'float16'``: the
            dtype parameters are cast to for compute (gradients are reduced
            in float32). None keeps float32.
        reshard_after_forward (bool): free gathered parameters after each
            block's forward (less memory, one more all-gather in backward).
        **kwargs: :class:`mmengine._strategy.DDPStrategy` arguments.
    """

    def __init__(self,
                 *,
                 shard_modules: Sequence[str] = ('EncoderBlock', ),
                 mixed_precision: Optional[str] = None,
                 reshard_after_forward: bool = True,
                 **kwargs):
        super().__init__(**kwargs)
        if mixed_precision not in (None, 'bfloat16', 'float16'):
            raise ValueError(f"mixed_precision must be None, 'bfloat16' or 'float16', got "
                             f'{mixed_precision!r}')
        self.shard_modules = tuple(shard_modules)
        self.mixed_precision = mixed_precision
        self.reshard_after_forward = reshard_after_forward

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        model = self.convert_model(model).to(get_device())
        kwargs = dict(reshard_after_forward=self.reshard_after_forward)
        if self.mixed_precision:
            kwargs['mp_policy'] = MixedPrecisionPolicy(
                param_dtype=getattr(torch, self.mixed_precision), reduce_dtype=torch.float32)
        sharded = 0
        for module in list(model.modules()):
            if type(module).__name__ in self.shard_modules:
                fully_shard(module, **kwargs)
                sharded += 1
        fully_shard(model, **kwargs)
        self.logger.info(f'FSDP2: {sharded} submodules sharded one by one, then the model')
        return model

    # ------------------------------------------------------------- state dicts
    def _options(self, **kwargs):
        from torch.distributed.checkpoint.state_dict import StateDictOptions
        return StateDictOptions(full_state_dict=True, cpu_offload=True, **kwargs)

    def model_state_dict(self) -> dict:
        """The full model state dict (collective: every rank must call it)."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict
        return get_model_state_dict(self.model, options=self._options())

    def optim_state_dict(self) -> dict:
        """The full optimizer state, keyed by parameter name (collective)."""
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
        state = self.optim_wrapper.state_dict()
        state.update(get_optimizer_state_dict(self.model, self.optim_wrapper.optimizer,
                                              options=self._options()))
        return state

    def load_model_state_dict(self, state_dict: dict, *, strict: bool = False,
                              revise_keys: Optional[list] = None) -> None:
        import re
        if revise_keys is None:
            revise_keys = [(r'^module.', '')]

        from torch.distributed.checkpoint.state_dict import set_model_state_dict
        for pattern, replacement in revise_keys:
            state_dict = {re.sub(pattern, replacement, k): v for k, v in state_dict.items()}
        set_model_state_dict(self.model, state_dict,
                             options=self._options(strict=strict))

    def load_optim_state_dict(self, state_dict: dict) -> None:
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict
        state_dict = dict(state_dict)
        if 'loss_scaler' in state_dict and hasattr(self.optim_wrapper, 'loss_scaler'):
            self.optim_wrapper.loss_scaler.load_state_dict(state_dict.pop('loss_scaler'))
        state_dict.pop('base_param_settings', None)
        set_optimizer_state_dict(self.model, self.optim_wrapper.optimizer, state_dict,
                                 options=self._options())

    def save_checkpoint(self,
                        filename: str,
                        *,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        extra_ckpt: Optional[dict] = None,
                        callback: Optional[Callable] = None) -> None:
        """Gather full states on every rank; rank 0 writes the file."""
        from mmengine.runner.checkpoint import save_checkpoint
        from mmengine.utils import get_git_hash
        state = dict(state_dict=self.model_state_dict())
        if save_optimizer and hasattr(self, 'optim_wrapper'):
            state['optimizer'] = self.optim_state_dict()
        if save_param_scheduler and hasattr(self, 'param_schedulers'):
            state['param_schedulers'] = self.scheduler_state_dict()
        if get_rank() != 0:
            return
        extra = dict(extra_ckpt or {})
        extra.setdefault('meta', {}).update(
            seed=self.seed, time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
            mmengine=mmengine.__version__ + get_git_hash())
        state.update(extra)
        if callback is not None:
            callback(state)
        save_checkpoint(state, filename)
