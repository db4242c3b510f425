"""EDM's own recipe (Hoogeboom et al. 2022, QM9 setting) on ase's G2 molecules: the
polynomial_2 noise schedule with precision 1e-5 and step-ratio clip 0.001 (the
``"vp_polynomial"`` process), eps-prediction with the unweighted L2 loss and t ~ U[0, 1],
positions + one-hot x 1/4 + atomic-number charge x 1/10 (``data.include_charges``), an
EGNN with the time t as input. Held-out log-likelihood on the zero-CoM subspace at
evaluation. Compared with configs/molecules/g2.py (Karras preconditioning) in
docs/molecules.md; same network, optimiser and sampler."""

from configs.molecules import g2


def get_config():
    c = g2.get_config()
    c.data.include_charges = True
    c.process.name = "vp_polynomial"
    c.process.kwargs = dict(power=2.0, precision=1e-5, timesteps=1000, clip=1e-3)
    c.model.kwargs = dict(hidden=64, num_layers=4, time_scale=1000.0)
    c.model.parameterization = "eps"
    c.model.time_input = "t"
    c.loss.name = "dsm"
    c.loss.kwargs = dict(weighting="uniform", time_sampling="uniform")
    c.sampling.schedule = "uniform_time"
    c.eval.likelihood_num_examples = 16
    c.eval.likelihood_divergence = "hutchinson"
    c.eval.likelihood_rtol = 1e-4
    return c
