"""SigLIPTextEncoder: SigLIP's (and SigLIP 2's) text tower, as released, for the two-tower loss."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from locca_mm.registry import MODELS

from ..backbones.encoder_block import EncoderBlock
from ..layers import FLAX_GELU, extend_table


@MODELS.register_module()
class SigLIPTextEncoder(BaseModule):
    """SigLIP's text tower (big_vision ``two_towers``; Hugging Face ``SiglipTextModel``).

    Token and learned position embeddings, pre-norm transformer blocks with *bidirectional*
    attention (no causal or padding mask: SigLIP pads every text to ``max_len`` and reads it
    whole), a final LayerNorm, the output at the *last* position (the text is right-padded
    to ``max_len``, so this is always the same slot) and a linear ``head`` with bias. It
    differs from :class:`TextEncoder` (causal, a text-CLS token, CLIP's tower) so that the
    released SigLIP / SigLIP 2 text towers load (``hf_siglip_to_siglip2``) and score as
    their authors' code does.

    Args:
        vocab_size (int): Size of the token table (the tokenizer's; location tokens are
            never fed to it, their rows stay untrained).
        pad_id (int): Padding id (texts are padded to ``max_len`` with it).
        bos_id (int): Unused (SigLIP prepends nothing); accepted from the tokenizer.
        embed_dims, num_layers, num_heads (int): 768, 12, 12 for B.
        mlp_ratio (float): MLP width / D. Defaults to 4.
        max_len (int): Text length. SigLIP 2: 64.
        proj_dims (int, optional): ``head`` output width. Defaults to ``embed_dims``.
        act_cfg (dict, optional): MLP activation. Defaults to the tanh GELU.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
    """

    def __init__(self, vocab_size: int, pad_id: int, bos_id: Optional[int] = None,
                 embed_dims: int = 768, num_layers: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, max_len: int = 64, proj_dims: Optional[int] = None,
                 act_cfg: Optional[dict] = FLAX_GELU, norm_eps: float = 1e-6,
                 loc_offset: Optional[int] = None, num_bins: int = 0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.vocab_size, self.pad_id, self.max_len = vocab_size, pad_id, max_len
        self.embed_dims = proj_dims or embed_dims
        self.token_embed = nn.Embedding(vocab_size, embed_dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, max_len, embed_dims))
        self.blocks = nn.ModuleList([
            EncoderBlock(embed_dims, num_heads, int(embed_dims * mlp_ratio), norm_eps=norm_eps,
                         act_cfg=act_cfg) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.head = nn.Linear(embed_dims, self.embed_dims)
        nn.init.normal_(self.token_embed.weight, std=embed_dims**-0.5)
        nn.init.normal_(self.pos_embed, std=embed_dims**-0.5)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint's smaller token table (a released tower's vocabulary, this model's
        tokenizer appending location tokens after it) fills the first rows; the others
        keep their initialisation (captions never use them)."""
        key = f'{prefix}token_embed.weight'
        if key in state_dict:
            state_dict[key] = extend_table(state_dict[key], self.token_embed.weight, dim=0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def pad(self, tokens: Tensor) -> Tensor:
        """Right-pad (or refuse) [B, T] tokens to [B, max_len]."""
        if tokens.shape[1] > self.max_len:
            raise ValueError(f'text of {tokens.shape[1]} tokens is longer than the tower\'s '
                             f'max_len {self.max_len}')
        return F.pad(tokens, (0, self.max_len - tokens.shape[1]), value=self.pad_id)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens: [B, T] -> hidden states [B, max_len, D] (after the final norm)."""
        x = self.token_embed(self.pad(tokens)) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def text_embedding(self, tokens: Tensor) -> Tensor:
        """tokens: [B, T] -> the text embedding [B, proj_dims]: ``head`` of the last slot."""
        return self.head(self(tokens)[:, -1])
