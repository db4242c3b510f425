"""Equivariant diffusion of ase's G2 molecules (162 molecules of up to 14 atoms, hydrogens
kept) with an EGNN, EDM-style (Hoogeboom et al. 2022) in model space (positions in
Angstrom, one-hot types x 1/4) but trained and sampled with Karras et al. (2022)'s
preconditioning, log-normal noise levels and loss weighting: it learns a single
molecule in 5x fewer steps than eps-prediction on the cosine VP process with the uniform
L2 loss, and reaches 1.7x its atom stability on G2 at 1,000 steps (docs/molecules.md,
"What made it work"). Molecule counts from the training histogram; EDM's stability /
validity / uniqueness at evaluation. Training: 14 min on the shared 2-core CPU."""

from configs import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "molecules"
    c.data.name = "mol:g2"
    c.data.kwargs = {}
    # EDM's charge channel (the task's default, True) is off here: the measured runs of
    # docs/molecules.md used one-hot types only (EGNN with 14 feature channels)
    c.data.include_charges = False
    c.data.batch_size = 32
    c.process.name = "edm"
    c.model.name = "egnn"
    c.model.kwargs = dict(hidden=64, num_layers=4, time_scale=250.0)
    c.model.parameterization = "edm"
    c.model.time_input = "c_noise"
    c.model.sigma_data = 0.5
    c.loss.name = "edm"
    c.loss.kwargs = dict(p_mean=-1.2, p_std=1.2)
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 100
    c.training.n_steps = 3500
    c.training.log_every = 250
    c.training.ckpt_every = 500
    c.training.sample_every = 0
    c.training.ema_decays = (0.999,)
    c.sampling.sampler = "ancestral"
    c.sampling.schedule = "karras"
    c.sampling.nfe = 100
    c.sampling.num_samples = 256
    c.sampling.grid_size = 16
    c.eval.num_batches = 2
    c.eval.num_samples = 256
    c.eval.samplers = ("ancestral",)
    c.eval.nfes = (50, 100)
    c.eval.metrics = ("sliced_w2",)
    c.eval.features = "pixels"
    c.eval.likelihood_num_examples = 0
    return c
