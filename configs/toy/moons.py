"""Two moons with an EDM-preconditioned MLP."""

from configs.toy import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "moons"
    c.process.name = "edm"
    c.model.parameterization = "edm"
    c.model.kwargs.time_scale = 250.0
    c.loss.name = "edm"
    c.loss.kwargs = dict(p_mean=-1.2, p_std=1.2)
    c.sampling.schedule = "karras"
    return c
