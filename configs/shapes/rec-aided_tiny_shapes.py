# The REC protocol with an aided decoder, a labelled variant of rec_tiny_shapes.py: 2-D
# sin-cos positions are added to the decoder's cross-attention keys (as DETR does), so the
# fresh decoder gets location from itself, not only from the frozen encoder's tokens. It
# asks less of the encoder than the paper's protocol does; the demo reports it beside the
# plain decoder, never instead of it.
_base_ = './rec_tiny_shapes.py'

model = dict(head=dict(decoder=dict(memory_pos_embed=True)))
