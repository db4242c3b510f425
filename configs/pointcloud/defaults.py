"""Defaults for point-cloud generation: the generated "shapes" set (six primitive classes,
random pose, scale and aspect) at 128 points (600 steps, about 8 minutes of training on
the loaded, shared 2-core CPU; attention cost grows as the square of the points), a
class-conditional set-transformer denoiser (``point_transformer``, no positional encoding,
so permutation-equivariant) with EDM preconditioning, loss and sampling.

``model.sigma_data = 1``: PointFlow's global normalisation gives model-space clouds of
standard deviation 1 (all coordinates together), and EDM's preconditioning and loss weight
assume data of std sigma_data (Karras et al. 2022). With the image default 0.5 the network's
target at high noise had variance 4 and the 400-step samples were blobs. Measured
(docs/pointcloud.md): sigma_data mattered most, then training steps and width;
classifier-free guidance and a higher learning rate did not help.

Evaluation draws ``eval.num_samples`` clouds (an equal number per class) and scores them
against the held-out clouds with MMD / COV / 1-NNA under Chamfer and EMD, in data units
(PointFlow's protocol), next to the data's own train-vs-test floor
(experiments/tasks/pointcloud.py, docs/pointcloud.md). Flattened-coordinate metrics
(``eval.metrics``) mean nothing for unordered points and are off.
"""

from configs import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "pointcloud"
    c.task.emd = "exact"               # exact (Hungarian) | sinkhorn
    c.task.emd_points = 128            # EMD on a fixed subset of points (0: all points)
    c.data.name = "pc:shapes"
    c.data.kwargs = dict(num_points=128, num_per_class=64, num_eval_per_class=8)
    c.data.batch_size = 32
    c.process.name = "edm"
    c.model.name = "point_transformer"
    c.model.kwargs = dict(hidden=128, depth=3, heads=4, mlp_ratio=2.0, time_scale=250.0)
    c.model.parameterization = "edm"
    c.model.sigma_data = 1.0           # the std of the normalised clouds (docstring)
    c.model.class_conditional = True
    c.training.label_dropout = 0.1
    c.loss.name = "edm"
    c.loss.kwargs = dict(p_mean=-1.2, p_std=1.2)
    c.optim.learning_rate = 2e-3
    c.optim.warmup_steps = 100
    c.training.n_steps = 600
    c.training.log_every = 100
    c.training.ckpt_every = 300
    c.training.sample_every = 0        # pictures come from --mode=sample / eval
    c.training.ema_decays = (0.999,)
    c.sampling.sampler = "dpm_solver++_2m"
    c.sampling.nfe = 20
    c.sampling.schedule = "karras"
    c.sampling.num_samples = 48
    c.sampling.grid_size = 12
    c.eval.num_batches = 4             # test loss batches
    c.eval.num_samples = 48            # 8 per class, as many as the held-out clouds
    c.eval.samplers = ("dpm_solver++_2m",)
    c.eval.nfes = (20,)
    c.eval.metrics = ()
    c.eval.likelihood_num_examples = 0
    return c
