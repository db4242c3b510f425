"""Class-conditional generation of GunPoint series (UCR; 150 steps, 2 classes) with
classifier-free guidance; samples are plotted next to real series and compared on
flattened windows (sliced W2, Frechet distance) and with TimeGAN's discriminative and
predictive scores and a classifier's accuracy on the requested classes."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "ts_generation"
    c.data.name = "ts:gunpoint"
    c.data.kwargs = {}
    c.data.batch_size = 16
    c.model.class_conditional = True
    c.task.metric_steps = 1000          # TimeGAN discriminative / predictive score training
    c.training.sample_every = 500
    c.sampling.num_samples = 64
    c.sampling.grid_size = 16
    c.eval.num_samples = 150
    c.eval.metrics = ("sliced_w2", "fd")
    c.eval.samplers = ("dpm_solver++_2m",)
    return c
