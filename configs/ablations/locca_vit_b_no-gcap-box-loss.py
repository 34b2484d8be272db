# The paper's Table 7 ablation: no loss on the GCap box. The box is given as part of the
# prompt ("GCap: {box} :") and only the region text (and eos) is predicted.
_base_ = ['../locca_vit_b.py']

model = dict(tokenizer=dict(loss_on=dict(gcap=('text', ))))
