# The paper's Table 7 ablation: no loss on the ARef region text. The text is given as
# part of the prompt ("ARef: {text} :") and only the box (and eos) is predicted.
_base_ = ['../locca_vit_b.py']

model = dict(tokenizer=dict(loss_on=dict(aref=('box', ))))
