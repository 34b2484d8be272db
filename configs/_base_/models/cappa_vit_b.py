# CapPa baseline (Tschannen et al., 2023): captioning only, 75% of the rows in
# parallel prediction (all inputs masked, bidirectional attention).
_base_ = './locca_vit_b.py'

model = dict(head=dict(tasks=('cap', ), parallel_ratio=0.75))
