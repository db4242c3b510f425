"""Fashion-MNIST by flow matching on the rectified-flow (linear) interpolant
x_t = (1 - t) x_0 + t eps (Liu et al. 2023; Lipman et al. 2023): a velocity U-Net
v(x_t, t) (t scaled by 1000) regressed on eps - x_0 with t ~ U[t_min, t_max]
(``diffax.losses.flow_matching_loss``), sampled with Euler steps on a uniform time grid
(the plain rectified-flow sampler) and evaluated with Euler and DPM-Solver++(2M).
Same U-Net, data and optimizer as ``fashion_mnist_edm.py``."""

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.process.name = "rectified_flow"
    c.model.parameterization = "velocity"
    c.model.time_input = "t"
    c.model.kwargs.time_scale = 1000.0
    c.loss.name = "flow_matching"
    c.loss.kwargs = dict(time_sampling="uniform")
    c.sampling.sampler = "euler"
    c.sampling.schedule = "uniform_time"
    c.sampling.nfe = 20
    c.eval.samplers = ("euler", "dpm_solver++_2m")
    c.eval.nfes = (4, 8, 20)
    return c
