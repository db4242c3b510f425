"""Fashion-MNIST under the score_sde VP SDE (beta 0.1..20) with an eps-predicting U-Net
conditioned on t (scaled by 1000), DDPM "simple" weighting, sampled with DPM-Solver++(2M)
on a uniform log-SNR grid."""

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.process.name = "vp_linear"
    c.model.parameterization = "eps"
    c.model.time_input = "t"
    c.model.kwargs.time_scale = 1000.0
    c.loss.name = "dsm"
    c.loss.kwargs = dict(kind="eps", weighting="uniform", time_sampling="antithetic")
    c.sampling.schedule = "uniform_log_snr"
    return c
