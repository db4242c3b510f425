"""PFGM++ (Xu et al., 2023) on the 2-D Gaussian mixture, D = 128 augmented dimensions.

The paper's recipe: EDM's preconditioning, loss and log-normal sigma after the alignment
r = sigma sqrt(D) (``objective.name = "pfgmpp"``), the PFGM++ kernel for the noise, and
Heun steps on EDM's sigma grid from the kernel's prior at r_max = 80 sqrt(D)
(``pfgmpp_heun`` / ``pfgmpp_karras``). Change ``process.kwargs.D`` for the sweep (small D:
heavier tails; D -> inf: EDM). The PF-ODE likelihood is Gaussian-only, so it is off.
"""

from configs.toy import defaults


def get_config():
    c = defaults.get_config()
    c.process.name = "pfgmpp"
    c.process.kwargs = dict(D=128.0, data_dim=2, t_min=0.002, t_max=80.0)
    c.objective.name = "pfgmpp"
    c.loss.name = "pfgmpp"
    c.loss.kwargs = dict(p_mean=-1.2, p_std=1.2)
    c.model.parameterization = "edm"
    c.model.sigma_data = 1.5  # the mixture's per-coordinate std is about 1.4
    c.model.kwargs = dict(hidden=128, depth=3, time_scale=250.0)  # embeds c_noise = ln(sigma)/4
    c.training.n_steps = 1500
    c.sampling.sampler = "pfgmpp_heun"
    c.sampling.schedule = "pfgmpp_karras"
    c.sampling.nfe = 35  # 17 Heun steps (NFE 34), as in the paper's CIFAR-10 runs
    c.eval.samplers = ("pfgmpp_heun",)
    c.eval.nfes = (19, 35)
    c.eval.likelihood_num_examples = 0
    return c
