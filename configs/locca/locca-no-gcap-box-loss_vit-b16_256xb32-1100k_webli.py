# The paper's Table 7 ablation: no loss on the GCap box. The box is given as part of the
# prompt ("GCap: {box} :") and only the region text (and eos) is predicted.
_base_ = ['./locca_vit-b16_256xb32-1100k_webli.py']

# The one tokenizer changed, for the model and the data alike.
tokenizer = dict(_base_.tokenizer, loss_on=dict(gcap=('text', )))
model = dict(tokenizer=tokenizer)
train_dataloader = dict(dataset=dict(tokenizer=tokenizer))
