"""TextDecoder: the one decoder LocCa trains for Cap, ARef and GCap (and CoCa's text tower)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS

from ..layers import Attention, CrossAttention, KVCache, Mlp, grid_size_of, sincos_1d, sincos_2d


class VisualMemory:
    """Cross-attention keys/values of the visual tokens, one (k, v) per multimodal layer.

    Made once per image by :meth:`TextDecoder.project_memory` and shared by
    every text row of that image: the Cap, ARef and GCap rows of a training
    step, or the several referring expressions of one image at evaluation.

    Attributes:
        kv: per layer, (k, v) each [B, H, N, d].
    """

    def __init__(self, kv: List[Tuple[Tensor, Tensor]]):
        self.kv = kv

    @property
    def batch_size(self) -> int:
        return self.kv[0][0].shape[0] if self.kv else 0

    def index_select(self, index: Optional[Tensor]) -> 'VisualMemory':
        """Memory of rows ``index`` ([R], image index of each text row); None keeps all."""
        if index is None:
            return self
        return VisualMemory([(k.index_select(0, index), v.index_select(0, index))
                             for k, v in self.kv])


class DecoderBlock(nn.Module):
    """Pre-norm block: self-attention, cross-attention (multimodal blocks only), MLP."""

    def __init__(self, dim: int, memory_dim: int, num_heads: int, mlp_dim: int,
                 cross_attention: bool, bias: bool = False, dropout: float = 0.0,
                 fused_attn: bool = True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
        self.self_attn = Attention(dim, num_heads, qkv_bias=bias, proj_bias=bias,
                                   proj_drop=dropout, fused=fused_attn)
        if cross_attention:
            self.norm2 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
            self.cross_attn = CrossAttention(dim, memory_dim, num_heads, bias=bias,
                                             fused=fused_attn)
        else:
            self.cross_attn = None
        self.norm3 = nn.LayerNorm(dim, eps=1e-6, bias=bias)
        self.mlp = Mlp(dim, mlp_dim, bias=bias, drop=dropout)

    def forward(self, x: Tensor, attn_mask: Optional[Tensor], is_causal: bool,
                memory_kv: Optional[Tuple[Tensor, Tensor]] = None,
                cache: Optional[KVCache] = None, max_len: int = 0) -> Tensor:
        x = x + self.self_attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal,
                               cache=cache, max_len=max_len)
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.norm2(x), memory_kv)
        return x + self.mlp(self.norm3(x))


@MODELS.register_module()
class TextDecoder(BaseModule):
    """Transformer decoder over text tokens, cross-attending to visual tokens.

    The decoder shifts its inputs itself: callers pass the target tokens
    ``tokens: [B, T]`` (right-padded with ``pad_id``) and get logits ``[B, T, V]``
    where position t predicts ``tokens[:, t]``. Each row is decoded either
    causally (inputs ``[bos, tokens[:-1]]``) or in parallel-prediction mode
    (CapPa: every input is ``mask_id`` and attention is bidirectional over every
    position of the row, padding included, as big_vision's CapPa), chosen per
    row by ``parallel: [B]``. A parallel row must be padded to a length that
    does not depend on its text (its task's ``max_length``, as
    :class:`LocCaHead` does): the positions it attends to then say nothing of
    where the text ends.

    CoCa's decoupled decoder is the same class with ``num_unimodal_layers > 0``:
    the first layers have no cross-attention (they never see the image) and a
    learned text-CLS token appended after the text gives the text embedding for
    the contrastive loss. ``num_unimodal_layers == num_layers`` and
    ``with_text_cls=True`` make a pure text encoder (CLIP).

    Token ids come from the tokenizer: the model passes ``vocab_size``,
    ``pad_id``, ``bos_id`` and ``mask_id`` when it builds the decoder.

    Args:
        vocab_size (int): Size V of the vocabulary (location tokens included).
        pad_id, bos_id, mask_id (int): Special token ids.
        embed_dims (int): Width D. Defaults to 768.
        num_layers (int): Number of blocks (unimodal + multimodal). Defaults to 6,
            half of a 12-layer encoder (the CapPa recipe).
        num_heads (int): Attention heads. Defaults to 12.
        mlp_ratio (float): MLP width / D. Defaults to 4.
        memory_dims (int, optional): Width of the visual tokens. Defaults to D.
        max_len (int): Longest sequence (learned position table). Defaults to 64.
        num_unimodal_layers (int): Leading blocks without cross-attention.
        with_text_cls (bool): Append a text-CLS token (CoCa / CLIP text embedding).
        bias (bool): Biases in linear layers and LayerNorms. Defaults to False.
        dropout (float): Dropout in blocks. Defaults to 0.
        fused_attn (bool): ``F.scaled_dot_product_attention`` (else plain math).
        loc_offset (int, optional), num_loc_tokens (int): where the location
            tokens sit in the vocabulary (given by the model from the tokenizer).
        memory_pos_embed (bool): add a 2-D sin-cos code of each visual token's
            grid position to the cross-attention keys of every layer (as DETR
            does), so positions stay explicit whatever the encoder kept of
            them. Defaults to False (the paper's decoder).
        loc_embed_init (str, optional): ``'sincos'`` starts the location
            tokens' input embeddings from the 1-D sin-cos code of their bin,
            so neighbouring bins begin close together rather than as unrelated
            random vectors; None (default) initialises them like every token.
    """

    def __init__(self,
                 vocab_size: int,
                 pad_id: int,
                 bos_id: int,
                 mask_id: int,
                 embed_dims: int = 768,
                 num_layers: int = 6,
                 num_heads: int = 12,
                 mlp_ratio: float = 4.0,
                 memory_dims: Optional[int] = None,
                 max_len: int = 64,
                 num_unimodal_layers: int = 0,
                 with_text_cls: bool = False,
                 bias: bool = False,
                 dropout: float = 0.0,
                 fused_attn: bool = True,
                 loc_offset: Optional[int] = None,
                 num_loc_tokens: int = 0,
                 loc_embed_init: Optional[str] = None,
                 memory_pos_embed: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if loc_embed_init not in (None, 'sincos'):
            raise ValueError(f"loc_embed_init must be None or 'sincos', got {loc_embed_init!r}")
        if not 0 <= num_unimodal_layers <= num_layers:
            raise ValueError(f'num_unimodal_layers={num_unimodal_layers} must be within '
                             f'[0, num_layers={num_layers}]')
        self.vocab_size = vocab_size
        self.pad_id, self.bos_id, self.mask_id = pad_id, bos_id, mask_id
        self.embed_dims = embed_dims
        self.max_len = max_len
        self.num_unimodal_layers = num_unimodal_layers
        memory_dims = memory_dims or embed_dims
        mlp_dim = int(embed_dims * mlp_ratio)

        self.token_embed = nn.Embedding(vocab_size, embed_dims)
        # +1 position: CoCa's unimodal stack also reads the last target token.
        self.pos_embed = nn.Parameter(torch.zeros(1, max_len + 1, embed_dims))
        self.blocks = nn.ModuleList([
            DecoderBlock(embed_dims, memory_dims, num_heads, mlp_dim,
                         cross_attention=i >= num_unimodal_layers, bias=bias, dropout=dropout,
                         fused_attn=fused_attn) for i in range(num_layers)
        ])
        self.text_cls = nn.Parameter(torch.zeros(1, 1, embed_dims)) if with_text_cls else None
        self.text_norm = nn.LayerNorm(embed_dims, eps=1e-6, bias=bias) if with_text_cls else None
        self.has_multimodal = num_unimodal_layers < num_layers
        # A text-only tower (CLIP) predicts no tokens: no output norm, no logit layer.
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6, bias=bias) if self.has_multimodal else None
        self.head = nn.Linear(embed_dims, vocab_size, bias=bias) if self.has_multimodal else None
        self.loc_offset, self.num_loc_tokens = loc_offset, num_loc_tokens
        self.loc_embed_init = loc_embed_init
        self.memory_pos_embed = memory_pos_embed
        self._init_params()

    def _init_params(self) -> None:
        nn.init.normal_(self.token_embed.weight, std=self.embed_dims**-0.5)
        nn.init.normal_(self.pos_embed, std=self.embed_dims**-0.5)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.loc_embed_init == 'sincos' and self.num_loc_tokens:
            # Unit-norm rows, as the random rows have on average.
            codes = sincos_1d(self.num_loc_tokens, self.embed_dims) * (2 / self.embed_dims)**0.5
            with torch.no_grad():
                self.token_embed.weight[self.loc_offset:self.loc_offset + self.num_loc_tokens] = \
                    codes
        if self.text_cls is not None:
            nn.init.normal_(self.text_cls, std=self.embed_dims**-0.5)
        if self.head is not None:
            # Zero logits at init: every token starts equally likely (big_vision).
            nn.init.zeros_(self.head.weight)
            if self.head.bias is not None:
                nn.init.zeros_(self.head.bias)

    @property
    def multimodal_blocks(self) -> Sequence[DecoderBlock]:
        return self.blocks[self.num_unimodal_layers:]

    def project_memory(self, visual: Tensor) -> VisualMemory:
        """visual: [B, N, Dm] -> per-layer cross-attention k/v, computed once per image."""
        key_pos = None
        if self.memory_pos_embed:
            h, w = grid_size_of(visual.shape[1])
            key_pos = sincos_2d(h, w, visual.shape[-1]).to(visual.device)
        return VisualMemory([blk.cross_attn.project_memory(visual, key_pos)
                             for blk in self.multimodal_blocks])

    # ------------------------------------------------------------------ training
    def forward(self, tokens: Tensor, memory: Optional[VisualMemory] = None,
                parallel: Optional[Tensor] = None, return_text_embedding: bool = False,
                logits_at: Optional[Tensor] = None):
        """Teacher-forced logits.

        Args:
            tokens: [B, T] target tokens, right-padded with ``pad_id``.
            memory: visual memory with B rows (see :meth:`project_memory` and
                :meth:`VisualMemory.index_select`); None for a text-only decoder.
            parallel: bool [B], rows in parallel-prediction mode (or None).
            return_text_embedding: also return the text-CLS embedding [B, D].
            logits_at: bool [B, T]: compute the logits of these positions only
                (the positions a loss is taken on). The vocabulary projection
                is a large part of the decoder's cost; prompt and padding
                positions then skip it.

        Returns:
            logits [B, T, V] (``[M, V]`` for the M positions of ``logits_at``,
            row by row; None for a text-only decoder), and with
            ``return_text_embedding`` a tuple ``(logits, text_embedding)``.
        """
        b, t = tokens.shape
        if t > self.max_len:
            raise ValueError(f'sequence of {t} tokens is longer than max_len={self.max_len}')
        valid = tokens != self.pad_id  # [B, T]: positions that predict a real token
        with_cls = return_text_embedding
        if with_cls and self.text_cls is None:
            raise ValueError('this decoder has no text-CLS token (with_text_cls=False)')
        if parallel is not None and not bool(parallel.any()):
            parallel = None
        if with_cls and parallel is not None:
            raise ValueError('parallel-prediction rows have no text embedding')
        bos = tokens.new_full((b, 1), self.bos_id)
        # The unimodal stack of CoCa also reads the last target token: [bos, tokens].
        inputs = torch.cat([bos, tokens if with_cls else tokens[:, :-1]], dim=1)
        if parallel is not None:
            inputs = torch.where(parallel[:, None], torch.full_like(inputs, self.mask_id), inputs)
        x = self.token_embed(inputs) + self.pos_embed[:, :inputs.shape[1]]
        if with_cls:
            x = torch.cat([x, self.text_cls.expand(b, -1, -1).to(x.dtype)], dim=1)

        attn_mask, is_causal = None, True
        if parallel is not None and not with_cls and bool(parallel.all()):
            is_causal = False  # every row parallel: full attention, no mask
        elif parallel is not None or with_cls:
            attn_mask = self.attention_mask(valid, parallel, with_cls)
            is_causal = False
        text_emb = None
        for i, blk in enumerate(self.blocks):
            if i == self.num_unimodal_layers and with_cls:
                text_emb = self.text_norm(x[:, -1])
                x = x[:, :t]  # multimodal layers see the shifted inputs only
                attn_mask = None if parallel is None else attn_mask[:, :, :t, :t]
                is_causal = attn_mask is None
            mem = memory.kv[i - self.num_unimodal_layers] if blk.cross_attn is not None else None
            x = blk(x, attn_mask=attn_mask, is_causal=is_causal, memory_kv=mem)
        if with_cls and text_emb is None:  # text-only decoder (CLIP)
            text_emb = self.text_norm(x[:, -1])
        if logits_at is not None:
            x = x[logits_at]
        logits = self.head(self.norm(x)) if self.has_multimodal else None
        return (logits, text_emb) if return_text_embedding else logits

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

    # ------------------------------------------------------------------ decoding
    def new_cache(self) -> List[KVCache]:
        """Empty self-attention caches, one per block."""
        return [KVCache() for _ in self.blocks]

    def step(self, inputs: Tensor, positions: Tensor, memory: VisualMemory,
             cache: List[KVCache], key_valid: Tensor, max_len: int) -> Tensor:
        """Incremental decoding: logits of new input tokens given the cached past.

        Args:
            inputs: [B, t] new input tokens (the prompt at the first call, then
                the token chosen at the previous step).
            positions: [B, t] their position ids (left-padded prompts start later).
            memory: visual memory with B rows.
            cache: from :meth:`new_cache`; extended in place.
            key_valid: bool [B, L] for every cached + new position (False on
                left padding), L = cache length + t.
            max_len: capacity to allocate in the caches at the first call.

        Returns:
            logits [B, t, V].
        """
        t = inputs.shape[1]
        past = cache[0].length
        x = self.token_embed(inputs) + self.pos_embed[0, positions]
        q_pos = torch.arange(past, past + t, device=inputs.device)
        k_pos = torch.arange(past + t, device=inputs.device)
        allowed = (k_pos[None, :] <= q_pos[:, None])[None] & key_valid[:, None, :]
        attn_mask = allowed[:, None]  # [B, 1, t, L]
        for i, blk in enumerate(self.blocks):
            mem = memory.kv[i - self.num_unimodal_layers] if blk.cross_attn is not None else None
            x = blk(x, attn_mask=attn_mask, is_causal=False, memory_kv=mem, cache=cache[i],
                    max_len=max_len)
        return self.head(self.norm(x))
