"""Stable neural SDE classification of ItalyPowerDemand with 50% of every series' hourly
steps dropped (Oh, Lim & Kim, ICLR 2024; the protocol and sizes of
``benchmarks/neural_sde.py``: hidden 16, drift width 32, 16 Euler-Maruyama steps, batch
32, Adam 1e-2, 150 steps; about a minute on 2 CPU cores, most of it compilation).

    python -m experiments.main --config=configs/timeseries/neural_sde_italy_power_demand.py \
        --workdir=runs/nsde_ipd --mode=train,sample,eval

``--config.model.kwargs.kind=lsde|lnsde|gsde`` picks the SDE class,
``--config.task.missing_rate=0.3|0.5|0.7`` the dropped fraction, and
``--config.task.problem=interpolation|forecasting`` (with ``task.horizon``) the other two
protocols (``configs/timeseries/neural_sde_italy_power_demand_interpolation.py``).
The process, loss and sampler sections are unused: the task scores its own network
(``experiments/tasks/neural_sde.py``, docs/neural_sde.md).
"""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "ts_neural_sde"
    c.task.problem = "classification"  # classification | interpolation | forecasting
    c.task.missing_rate = 0.5          # fraction of steps dropped per series and channel
    c.task.horizon = 6                 # forecasting: predicted steps
    c.data.name = "ts:italy_power_demand"
    c.data.kwargs = {}                 # whole series (24 hourly values), the UCR split
    c.data.batch_size = 32
    c.model.name = "stable_neural_sde"
    c.model.kwargs = dict(kind="lnsde", hidden=16, width=32, steps=16, solver="euler")
    c.objective.name = "neural_sde"
    c.optim.learning_rate = 1e-2
    c.optim.warmup_steps = 0
    c.optim.schedule = "constant"
    c.optim.grad_clip = 1.0
    c.training.n_steps = 150
    c.training.log_every = 10
    c.training.ckpt_every = 50
    c.training.ema_decays = ()           # the benchmark scores the trained parameters
    c.sampling.params = "params"
    c.eval.draws = 16                    # Brownian paths per held-out series
    c.eval.num_batches = 4               # held-out loss batches
    return c
