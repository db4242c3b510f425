"""Defaults for 2-D toy experiments: an MLP denoiser trained in a minute on CPU.
Samples are drawn as scatter plots next to the data."""

from configs import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "vector"
    c.data.name = "gmm2d"
    c.data.batch_size = 256
    c.process.name = "vp_linear"
    c.model.name = "mlp"
    c.model.kwargs = dict(hidden=128, depth=3, time_scale=1000.0)
    c.model.parameterization = "eps"
    c.model.time_input = "t"
    c.loss.name = "dsm"
    c.loss.kwargs = dict(kind="eps", weighting="uniform", time_sampling="antithetic")
    c.optim.learning_rate = 3e-3
    c.optim.warmup_steps = 50
    c.training.n_steps = 2000
    c.training.log_every = 100
    c.training.ckpt_every = 1000
    c.training.sample_every = 1000
    c.sampling.schedule = "uniform_log_snr"
    c.sampling.nfe = 20
    c.sampling.num_samples = 2048
    c.sampling.grid_size = 2048
    c.eval.num_samples = 2048
    c.eval.samplers = ("dpm_solver++_2m", "euler")
    c.eval.nfes = (10, 50)
    c.eval.metrics = ("sliced_w2", "fd", "kid", "precision_recall")
    c.eval.features = "pixels"
    c.eval.inception_weights = ""
    c.eval.likelihood_num_examples = 512  # PF-ODE NLL with the exact trace
    c.eval.likelihood_divergence = "auto"
    c.eval.likelihood_rtol = 1e-5
    return c
