# The paper's Table 7 ablation: no loss on the GCap box. The box is given as part of the
# prompt ("GCap: {box} :") and only the region text (and eos) is predicted.
_base_ = ['./locca_vit-b16_256xb32-1100k_webli.py']

model = dict(tokenizer=dict(loss_on=dict(gcap=('text', ))))
