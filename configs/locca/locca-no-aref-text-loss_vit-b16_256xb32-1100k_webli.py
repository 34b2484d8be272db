# The paper's Table 7 ablation: no loss on the ARef region text. The text is given as
# part of the prompt ("ARef: {text} :") and only the box (and eos) is predicted.
_base_ = ['./locca_vit-b16_256xb32-1100k_webli.py']

model = dict(tokenizer=dict(loss_on=dict(aref=('box', ))))
