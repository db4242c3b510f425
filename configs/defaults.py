"""Shared defaults of every experiment config: the sections the runner reads and the
values that do not depend on the task. Each task family's ``defaults.py``
(``configs/image/``, ``configs/toy/``, ...) starts here and sets its data, process,
network, loss and evaluation; per-experiment files override a few fields, and any field
can be overridden on the command line (``--config.training.n_steps=2000``).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.task = ml_collections.ConfigDict()
    c.task.name = ""                  # experiments.tasks registry name (set by the family)

    c.data = d = ml_collections.ConfigDict()
    d.name = ""                       # diffax.data.get_dataset name (set by the family)
    d.kwargs = ml_collections.ConfigDict()
    d.batch_size = 64                 # global batch (split over all devices and hosts)
    d.flip = False                    # random horizontal flips (images)
    d.dequantize = False              # uniform dequantization of 8-bit values

    c.process = p = ml_collections.ConfigDict()
    p.name = "edm"                    # diffax.processes.get_process name
    p.kwargs = ml_collections.ConfigDict()

    c.model = m = ml_collections.ConfigDict()
    m.name = ""                       # diffax.nn.get_network name (set by the family)
    m.kwargs = ml_collections.ConfigDict()
    m.parameterization = "edm"        # "edm" preconditioning or a prediction kind
    m.time_input = "c_noise"          # network time input for kind parameterizations
    m.sigma_data = 0.5                # EDM preconditioning (and the EDM loss/weighting)
    m.class_conditional = False       # adds a label embedding with a null label (CFG)

    c.objective = ml_collections.ConfigDict()
    c.objective.name = "denoising"    # diffax.objectives registry name
    c.loss = lo = ml_collections.ConfigDict()
    lo.name = "edm"                   # diffax.losses.get_loss name
    # the loss's target kind and sigma_data follow from model.parameterization and
    # model.sigma_data (diffax.objectives.loss_options); state them here only to check
    lo.kwargs = ml_collections.ConfigDict(dict(p_mean=-1.2, p_std=1.2))

    c.optim = o = ml_collections.ConfigDict()
    o.optimizer = "adam"
    o.learning_rate = 2e-3
    o.warmup_steps = 100
    o.schedule = "cosine"
    o.final_lr_fraction = 0.05
    o.grad_clip = 1.0
    o.weight_decay = 0.0

    c.training = t = ml_collections.ConfigDict()
    t.n_steps = 1200
    t.log_every = 50
    t.ckpt_every = 500
    t.keep_checkpoints = 3
    t.sample_every = 400              # picture every N steps (0: never)
    t.ema_decays = (0.995,)           # short CPU runs; use 0.999+ for long runs
    t.nonfinite = "stop"              # "stop" (raise) or "skip" the step
    t.compute_dtype = "float32"       # or "bfloat16" (float32 params and optimizer state)
    t.label_dropout = 0.1             # for class-conditional models (CFG)
    t.progress = True
    # k > 1: split each global batch into k strided micro-batches inside the jitted step
    # (lax.scan, mean gradient, one optimizer update); memory scales with batch/k. Needs
    # data.batch_size divisible by k x devices (diffax.training.step docstring).
    t.grad_accum_steps = 1
    # (data, model) device mesh; data = -1 takes all devices the model axis leaves. model = 1
    # is data parallelism (parameters replicated); model = m > 1 is FSDP: parameters,
    # optimizer state and EMAs of at least fsdp_min_size elements are split m ways along
    # their largest dimension that m divides, the batch over all devices
    # (diffax.training.sharding, docs/sharding.md). E.g. --config.training.mesh_shape='(-1, 2)'
    t.mesh_shape = (-1, 1)
    t.fsdp_min_size = 2 ** 14
    # (N, k): write a jax.profiler trace of steps N..N+k-1 to workdir/profile/ (view it in
    # TensorBoard's profile plugin or Perfetto); () disables it.
    t.profile_steps = ()

    c.sampling = s = ml_collections.ConfigDict()
    s.sampler = "dpm_solver++_2m"     # diffax.samplers registry name
    s.sampler_kwargs = ml_collections.ConfigDict()
    s.nfe = 15
    s.schedule = "karras"
    s.num_samples = 64
    s.grid_size = 64
    s.guidance_scale = 1.0
    s.params = "ema"                  # "ema", "params" or "ema_<decay>"
    s.seed = 0

    c.eval = e = ml_collections.ConfigDict()
    e.split = "test"
    e.num_batches = 8
    e.num_samples = 512
    e.samplers = ("dpm_solver++_2m",)
    e.nfes = (10, 20)
    e.metrics = ("sliced_w2", "fd", "kid", "precision_recall")
    e.guidance_scales = ()            # class-conditional: CFG scales to sweep (empty: sampling's)
    e.features = "auto"               # feature space of FD/KID/precision-recall
    e.inception_weights = ""          # .npz for features="inception_v3" (docs/features.md)
    e.likelihood_num_examples = 16    # PF-ODE likelihood of held-out examples (0: skip)
    e.likelihood_divergence = "auto"  # exact trace for d <= 16, else Hutchinson
    e.likelihood_rtol = 1e-4

    # --mode=fid: FID / FD-FMNIST at paper scale, chunked and resumable (docs/fid.md)
    c.fid = f = ml_collections.ConfigDict()
    f.num_samples = 50_000            # the count papers report
    f.chunk_size = 1024               # samples per chunk file (a multiple of the devices)
    f.feature_batch_size = 256        # rows per sharded feature call (Inception memory)
    f.features = "auto"               # "fmnist_cnn", "inception_v3"; auto: FD-FMNIST on FMNIST
    f.weights = ""                    # extractor weights (inception: eval.inception_weights)
    f.reference_split = "train"       # statistics of this split, cached by weights hash
    f.reference_num_examples = 0      # 0: the whole split
    f.stats_dir = ""                  # reference cache folder ("": workdir/fid/reference)
    f.sampler = ""                    # "": sampling.sampler
    f.nfe = 0                         # 0: sampling.nfe
    f.seed = 0                        # chunk i uses fold_in(PRNGKey(seed), i)
    return c
