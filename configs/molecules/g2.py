"""EDM-style equivariant diffusion (Hoogeboom et al. 2022) on ase's G2 molecules (162
molecules of up to 14 atoms, hydrogens kept): an EGNN eps-model on a cosine VP process,
the unweighted L2 loss on real atoms, ancestral sampling; molecule counts from the
training histogram; EDM's stability / validity / uniqueness at evaluation. Runs on CPU
in a few minutes; see docs/molecules.md for the numbers."""

from configs import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "molecules"
    c.data.name = "mol:g2"
    c.data.kwargs = {}
    c.data.batch_size = 32
    c.process.name = "vp_cosine"
    c.model.name = "egnn"
    c.model.kwargs = dict(hidden=64, num_layers=4, time_scale=1000.0)
    c.model.parameterization = "eps"
    c.model.time_input = "t"
    c.loss.name = "dsm"
    c.loss.kwargs = dict(weighting="uniform", time_sampling="uniform")
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 100
    c.training.n_steps = 1000
    c.training.log_every = 250
    c.training.ckpt_every = 500
    c.training.sample_every = 0
    c.training.ema_decays = (0.999,)
    c.sampling.sampler = "ancestral"
    c.sampling.schedule = "uniform_time"
    c.sampling.nfe = 200
    c.sampling.num_samples = 256
    c.sampling.grid_size = 16
    c.eval.num_batches = 2
    c.eval.num_samples = 256
    c.eval.samplers = ("ancestral",)
    c.eval.nfes = (50, 200)
    c.eval.metrics = ("sliced_w2",)
    c.eval.features = "pixels"
    c.eval.likelihood_num_examples = 0
    return c
