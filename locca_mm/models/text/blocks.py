"""The parts TextEncoder and TextDecoder share: a pre-norm block and the embedded block stack."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from ..layers import Attention, CrossAttention, KVCache, Mlp, sincos_1d


class DecoderBlock(nn.Module):
    """Pre-norm block: self-attention, cross-attention (multimodal blocks only), MLP.

    Args:
        dim (int): Width D.
        memory_dims (int): Width of the visual tokens the cross-attention reads.
        num_heads (int): Attention heads.
        mlp_dim (int): Hidden width of the MLP.
        cross_attention (bool): A multimodal block (else text only, no ``cross_attn``).
        bias (bool): Biases in linear layers and LayerNorms.
        dropout (float): Dropout after the attention and in the MLP.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (else plain math).
        act_cfg (dict, optional): the MLP's activation (:func:`~..layers.build_act`).
    """

    def __init__(self, dim: int, memory_dims: int, num_heads: int, mlp_dim: int,
                 cross_attention: bool, bias: bool = False, dropout: float = 0.0,
                 fused_attn: bool = True, act_cfg: Optional[dict] = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
        self.self_attn = Attention(dim, num_heads, qkv_bias=bias, proj_bias=bias,
                                   proj_drop=dropout, fused=fused_attn)
        if cross_attention:
            self.norm2 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
            self.cross_attn = CrossAttention(dim, memory_dims, num_heads, bias=bias,
                                             fused=fused_attn)
        else:
            self.cross_attn = None
        self.norm3 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
        self.mlp = Mlp(dim, mlp_dim, bias=bias, drop=dropout, act_cfg=act_cfg)

    def forward(self, x: Tensor, attn_mask: Optional[Tensor], is_causal: bool,
                memory_kv: Optional[Tuple[Tensor, Tensor]] = None,
                cache: Optional[KVCache] = None, max_len: int = 0) -> Tensor:
        """x: [B, T, D] -> [B, T, D]; ``memory_kv`` is this block's visual k/v (multimodal)."""
        x = x + self.self_attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal,
                               cache=cache, max_len=max_len)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.norm2(x), memory_kv)
        return x + self.mlp(self.norm3(x))


class TextTransformer(BaseModule):
    """Token and position embeddings, and a stack of :class:`DecoderBlock` s.

    The shared trunk of :class:`TextEncoder` (every block text-only) and
    :class:`TextDecoder` (``num_unimodal_layers`` text-only blocks, then
    cross-attending ones). Subclasses add their outputs, then call
    :meth:`_init_params`, so that parameters are created and initialised in
    one order whatever the subclass (checkpoints and seeds stay comparable).

    Args:
        vocab_size, pad_id, bos_id: the vocabulary (from the tokenizer).
        embed_dims, num_layers, num_heads, mlp_ratio, bias, dropout, fused_attn:
            the blocks (see :class:`DecoderBlock`).
        cross_attention (Sequence[bool]): per block, whether it cross-attends.
        memory_dims (int, optional): width of the visual tokens (default D).
        max_len (int): longest sequence (learned position table of max_len + 1).
        loc_offset (int, optional), num_bins (int): where the location tokens
            sit in the vocabulary.
        loc_embed_init (str, optional): ``'sincos'`` starts the location
            embeddings from the 1-D sin-cos code of their bin.
        token_embed_std (float, optional): init std of the token embeddings;
            None (default) is 1/sqrt(D).
    """

    def __init__(self, vocab_size: int, pad_id: int, bos_id: int, embed_dims: int,
                 num_heads: int, mlp_ratio: float, cross_attention: Sequence[bool],
                 memory_dims: Optional[int], max_len: int, bias: bool, dropout: float,
                 fused_attn: bool, loc_offset: Optional[int], num_bins: int,
                 loc_embed_init: Optional[str], init_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None, token_embed_std: Optional[float] = None):
        super().__init__(init_cfg=init_cfg)
        if loc_embed_init not in (None, 'sincos'):
            raise ValueError(f"loc_embed_init must be None or 'sincos', got {loc_embed_init!r}")
        self.vocab_size, self.pad_id, self.bos_id = vocab_size, pad_id, bos_id
        self.embed_dims, self.max_len = embed_dims, max_len
        self.token_embed_std = embed_dims**-0.5 if token_embed_std is None else token_embed_std
        self.loc_offset, self.num_bins, self.loc_embed_init = loc_offset, num_bins, loc_embed_init
        self.token_embed = nn.Embedding(vocab_size, embed_dims)
        # +1 position: a text tower also reads the last target token.
        self.pos_embed = nn.Parameter(torch.zeros(1, max_len + 1, embed_dims))
        self.blocks = nn.ModuleList([
            DecoderBlock(embed_dims, memory_dims or embed_dims, num_heads,
                         int(embed_dims * mlp_ratio), cross_attention=cross, bias=bias,
                         dropout=dropout, fused_attn=fused_attn, act_cfg=act_cfg)
            for cross in cross_attention
        ])
        self.text_cls: Optional[nn.Parameter] = None
        self.text_norm: Optional[nn.LayerNorm] = None

    def _add_text_cls(self, bias: bool) -> None:
        """The learned text-CLS token, appended after the text, and its output norm."""
        self.text_cls = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.text_norm = nn.LayerNorm(self.embed_dims, eps=1e-6, bias=bias)

    def _init_params(self) -> None:
        """Token embeddings ~ N(0, token_embed_std²), positions ~ N(0, 1/D), block kernels
        Xavier-uniform, biases 0, text-CLS ~ N(0, 1/D)."""
        nn.init.normal_(self.token_embed.weight, std=self.token_embed_std)
        nn.init.normal_(self.pos_embed, std=self.embed_dims**-0.5)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.loc_embed_init == 'sincos' and self.num_bins:
            # Rows of the random rows' RMS (the codes' own RMS is 1/sqrt(2)).
            codes = sincos_1d(self.num_bins, self.embed_dims) * (2**0.5 * self.token_embed_std)
            with torch.no_grad():
                self.token_embed.weight[self.loc_offset:self.loc_offset + self.num_bins] = codes
        if self.text_cls is not None:
            nn.init.normal_(self.text_cls, std=self.embed_dims**-0.5)

    def _check_length(self, tokens: Tensor) -> None:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f'sequence of {tokens.shape[1]} tokens is longer than '
                             f'max_len={self.max_len}')

    def _embed(self, inputs: Tensor) -> Tensor:
        """[B, L] input ids at positions 0..L-1 -> [B, L, D]."""
        return self.token_embed(inputs) + self.pos_embed[:, :inputs.shape[1]]

    def _encode_with_cls(self, tokens: Tensor, num_blocks: int) -> Tuple[Tensor, Tensor]:
        """The text-CLS pass over the first ``num_blocks`` (text-only) blocks.

        The inputs are ``[bos, tokens]`` and the CLS token after them; each
        input attends causally to the real ones, the CLS token to all of them.

        Returns:
            hidden [B, T + 1, D] (the outputs at ``[bos, tokens]``) and the
            normalised CLS output [B, D].
        """
        if self.text_cls is None:
            raise ValueError('this text tower has no text-CLS token (with_text_cls=False)')
        self._check_length(tokens)
        b = tokens.shape[0]
        inputs = torch.cat([tokens.new_full((b, 1), self.bos_id), tokens], dim=1)
        x = self._embed(inputs)
        x = torch.cat([x, self.text_cls.expand(b, -1, -1).to(x.dtype)], dim=1)
        attn_mask = self.attention_mask(tokens != self.pad_id, None, with_cls=True)
        for blk in self.blocks[:num_blocks]:
            x = blk(x, attn_mask=attn_mask, is_causal=False)
        return x[:, :-1], self.text_norm(x[:, -1])

    def attention_mask(self, valid: Tensor, parallel: Optional[Tensor],
                       with_cls: bool = False) -> Tensor:
        """Boolean self-attention mask [B, 1, L, L] (True = may attend).

        Causal rows attend to earlier positions; parallel rows attend to every
        position of the row (its fixed length, padding included). With
        ``with_cls`` the inputs are T + 1 tokens plus the CLS token, which
        attends to every real input.
        """
        b, t = valid.shape
        # A causal row's input j is real iff it is bos (j = 0) or tokens[j - 1] is.
        key_valid = torch.cat([valid.new_ones(b, 1), valid], dim=1)  # [B, T + 1]
        if not with_cls:
            key_valid = key_valid[:, :t]
            if parallel is not None:
                key_valid = key_valid | parallel[:, None]
        else:
            key_valid = torch.cat([key_valid, valid.new_ones(b, 1)], dim=1)  # + CLS
        length = key_valid.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()
        allowed = causal[None].expand(b, -1, -1)
        if parallel is not None:
            allowed = allowed | parallel[:, None, None]
        return (allowed & key_valid[:, None, :])[:, None]
