# Runtime shared by every locca_mm config.
default_scope = 'locca_mm'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the last `max_keep_ckpts` checkpoints plus `last_checkpoint`.
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=1000, max_keep_ckpts=3,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Checkpoints that torch's default weights_only loading accepts (resume on torch >= 2.6).
    weights_only_checkpoint=dict(type='WeightsOnlyCheckpointHook'),
)

# Counts of skipped/cut data, per-step seeds (exact resume), a checkpoint on SIGTERM,
# and a stop naming the iteration, task and samples when a loss goes NaN/inf
# (action='skip' skips such steps and counts them instead).
custom_hooks = [
    dict(type='DataStatsHook', interval=50),
    dict(type='StepSeedHook'),
    dict(type='PreemptionHook'),
    dict(type='NonFiniteLossHook', action='raise'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPU; locca_mm falls back to gloo when CUDA is not available.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
log_level = 'INFO'

load_from = None
resume = False

randomness = dict(seed=0, deterministic=False)
