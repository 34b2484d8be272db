"""MAPNeck: multi-head attention pooling of encoder tokens into one vector per image."""
import logging
from typing import Optional, Sequence, Tuple, Union

from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS
from locca_mm.utils.encoder_checkpoint import encoder_state, load_state_strictly, read_state_dict

from ..layers import AttentionPool


@MODELS.register_module()
class MAPNeck(BaseModule):
    """Pool an encoder's tokens with a learned query (big_vision's MAP head).

    One learned query attends to all tokens, then a residual MLP with a
    LayerNorm (:class:`~locca_mm.models.layers.AttentionPool`). Used for the
    frozen-encoder probe in mmpretrain: a classifier reads the pooled vector
    (the mmpretrain alternative is ``GlobalAveragePooling``, GAP). A SigLIP /
    SigLIP 2 MAP head converted with ``--keep-pool``
    (``tools/model_converters/{timm_vit,hf_siglip,big_vision_vit}.py``) is
    stored under ``neck.pool.`` and loads with
    ``init_cfg=dict(type='Pretrained', checkpoint=FILE, prefix='neck.')``.

    Args:
        in_channels (int): Token width D.
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): Hidden width of the MLP relative to D. Defaults to 4.
        act_cfg (dict, optional): The MLP's activation; None (default) is the
            exact GELU, SigLIP's heads use ``dict(type='GELU', approximate='tanh')``
            (the converters print the value their weights need).
        init_cfg (dict, optional): Initialisation config; ``type='Pretrained'``
            loads ``pool.*`` under ``prefix`` strictly (missing, unexpected or
            mis-shaped keys are named).

    Forward: a tuple of [B, D, h, w] maps or [B, N, D] tokens (mmpretrain's
    neck input) -> a tuple of [B, D], one per input.
    """

    def __init__(self, in_channels: int, num_heads: int = 12, mlp_ratio: float = 4.0,
                 act_cfg: Optional[dict] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.pool = AttentionPool(in_channels, num_heads, num_queries=1, mlp_ratio=mlp_ratio,
                                  act_cfg=act_cfg)

    def init_weights(self) -> None:
        """Load ``init_cfg=Pretrained`` strictly (with a clear error); otherwise keep the init."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.load_pretrained(cfg['checkpoint'], prefix=cfg.get('prefix', ''),
                                 map_location=cfg.get('map_location', 'cpu'))
            self.is_init = True  # mmengine's flag: a parent's init_weights() must not reload
            return
        super().init_weights()

    def load_pretrained(self, checkpoint: str, prefix: str = '',
                        map_location: str = 'cpu') -> None:
        """Load the pooler's tensors (``pool.*`` under ``prefix``) from ``checkpoint``, strictly.

        Raises:
            KeyError: no key under ``prefix``, or missing / unexpected keys (named).
            ValueError: tensors of other shapes than this neck's (named).
        """
        state = read_state_dict(checkpoint, map_location)
        if prefix:
            state = encoder_state(state, prefix, source=checkpoint)
        load_state_strictly(self, state, checkpoint, prefix, 'MAPNeck')
        print_log(f'MAPNeck: loaded {len(state)} tensors from {checkpoint} (prefix {prefix!r})',
                  logger='current', level=logging.INFO)

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor, ...]:
        """inputs: [B, D, h, w] / [B, N, D] maps or a tuple of them -> tuple of [B, D]."""
        if isinstance(inputs, Tensor):
            inputs = (inputs, )
        outs = []
        for x in inputs:
            if x.dim() == 4:  # [B, D, h, w] -> [B, h * w, D]
                x = x.flatten(2).transpose(1, 2)
            outs.append(self.pool(x)[:, 0])
        return tuple(outs)
