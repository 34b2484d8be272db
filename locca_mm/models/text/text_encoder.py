"""TextEncoder: a text-only transformer with a text-CLS output (CLIP's text tower)."""
from typing import Optional

from torch import Tensor

from locca_mm.registry import MODELS

from ..layers import FLAX_GELU
from .blocks import TextTransformer


@MODELS.register_module()
class TextEncoder(TextTransformer):
    """Text tower: causal text-only blocks and a learned text-CLS token appended after the text.

    CLIP's text encoder (the contrastive baseline's :class:`ContrastiveHead`),
    and the first half of CoCa's decoder (:class:`TextDecoder` with
    ``num_unimodal_layers``, which shares this computation). The inputs are
    ``[bos, tokens]`` then the CLS token; each input attends causally to the
    real ones, the CLS token to all of them, so neither output depends on the
    padding.

    Token ids come from the tokenizer (the head that builds the encoder passes
    ``vocab_size``, ``pad_id`` and ``bos_id``).

    Args:
        vocab_size (int): Size V of the vocabulary (location tokens included).
        pad_id, bos_id (int): Special token ids.
        embed_dims (int): Width D. Defaults to 768.
        num_layers (int): Number of blocks. Defaults to 12.
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): MLP width / D. Defaults to 4.
        max_len (int): Longest sequence (learned position table). Defaults to 64.
        bias (bool): Biases in linear layers and LayerNorms. Defaults to False.
        dropout (float): Dropout in blocks. Defaults to 0.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (else plain math).
        loc_offset (int, optional), num_bins (int): where the location tokens
            sit in the vocabulary (for ``loc_embed_init``).
        loc_embed_init (str, optional): see :class:`TextDecoder`.
        act_cfg (dict, optional): The MLPs' activation. Defaults to the
            tanh-approximated GELU of big_vision's text tower (flax ``nn.gelu``),
            as :class:`TextDecoder`.
    """

    def __init__(self, vocab_size: int, pad_id: int, bos_id: int, embed_dims: int = 768,
                 num_layers: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 max_len: int = 64, bias: bool = False, dropout: float = 0.0,
                 fused_attn: bool = True, loc_offset: Optional[int] = None, num_bins: int = 0,
                 loc_embed_init: Optional[str] = None, init_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = FLAX_GELU):
        super().__init__(vocab_size, pad_id, bos_id, embed_dims, num_heads, mlp_ratio,
                         [False] * num_layers, None, max_len, bias, dropout, fused_attn,
                         loc_offset, num_bins, loc_embed_init, init_cfg=init_cfg,
                         act_cfg=act_cfg)
        self._add_text_cls(bias)
        self._init_params()

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens: [B, T] (right-padded) -> hidden states [B, T + 1, D] at ``[bos, tokens]``."""
        return self._encode_with_cls(tokens, len(self.blocks))[0]

    def text_embedding(self, tokens: Tensor) -> Tensor:
        """tokens: [B, T] -> the normalised text-CLS output [B, D] (the contrastive embedding)."""
        return self._encode_with_cls(tokens, len(self.blocks))[1]
