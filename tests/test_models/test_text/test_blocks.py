"""DecoderBlock and the shared trunk: block kinds, attention masks."""
import torch

from locca_mm.models.text import DecoderBlock, TextDecoder


def test_a_text_only_block_has_no_cross_attention():
    assert DecoderBlock(8, 8, 2, 16, cross_attention=False).cross_attn is None
    blk = DecoderBlock(8, 12, 2, 16, cross_attention=True)
    assert blk.cross_attn.kv.in_features == 12  # reads memory_dims-wide visual tokens


def test_cls_mask_lets_the_cls_token_see_every_real_input_and_no_input_see_it():
    decoder = TextDecoder(vocab_size=20, pad_id=0, bos_id=1, mask_id=3, embed_dims=8,
                          num_layers=1, num_heads=2, max_len=8)
    valid = torch.tensor([[True, True, False]])  # two tokens, one pad
    mask = decoder.attention_mask(valid, None, with_cls=True)[0, 0]  # [5, 5]: bos, 3 tok, cls
    assert mask[-1].tolist() == [True, True, True, False, True]
    assert not mask[:-1, -1].any()
