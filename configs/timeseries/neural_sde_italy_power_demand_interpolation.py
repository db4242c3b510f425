"""Stable neural SDE interpolation of ItalyPowerDemand: 50% of every series' steps are
dropped (fresh at each training step, fixed on the test split) and the per-step readout
reconstructs them; MSE on the dropped values next to linear interpolation and zero
(``benchmarks/neural_sde.py``'s interpolation protocol and sizes)."""

from configs.timeseries import neural_sde_italy_power_demand


def get_config():
    c = neural_sde_italy_power_demand.get_config()
    c.task.problem = "interpolation"
    return c
