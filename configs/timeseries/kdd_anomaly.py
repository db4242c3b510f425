"""ImDiffusion-style anomaly detection on UCR/KDD-Cup 2021 series 135 (InternalBleeding16,
univariate, one labelled anomaly of 12 steps in the 6,301 test steps): a small CSDI
imputer trained with grating masks (2 phases of 10-step segments) on windows of 100
normal steps, the last 300 training steps held out to set the thresholds; each test step
is imputed from its neighbours 8 times and scored by its imputation error
(experiments/tasks/anomaly.py, docs/timeseries_anomaly.md). Runs in a few minutes on CPU:

    python -m experiments.main --config=configs/timeseries/kdd_anomaly.py \\
        --workdir=runs/kdd_anomaly --mode=train,sample,eval
"""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "ts_anomaly"
    for unused in ("train_strategy", "missing_rate", "missing_pattern"):
        del c.task[unused]
    c.task.num_masks = 2               # ImDiffusion's two complementary grating masks
    c.task.segment = 10                # steps per grating segment
    c.task.calibration_steps = 300     # training tail held out to set thresholds
    c.task.threshold_quantile = 0.99   # of the calibration scores (fixed_* and vote_*)
    c.task.eval_stride = 50            # overlapping test windows; edges weigh less
    c.data.name = "ts:kdd_tsad_135"
    c.data.kwargs = dict(window=100)   # stride 1 in training; test windows tile the split
    c.data.batch_size = 32             # a multiple of num_masks
    # small CSDI (two blocks: the first temporal attention has no position input)
    c.model.kwargs.update(channels=16, num_layers=2, num_heads=2, diffusion_embed_dim=32)
    c.optim.learning_rate = 3e-3
    c.optim.warmup_steps = 50
    c.training.n_steps = 1500
    c.training.ckpt_every = 500
    c.training.ema_decays = (0.99,)
    c.eval.draws = 8                   # imputations per target = ensemble members
    c.eval.samplers = ("dpm_solver++_2m",)
    c.eval.nfes = (20,)
    c.eval.num_batches = 9             # 9 x 32 rows >= 2 x (5 calibration + 126 test) windows
    return c
