"""Improved consistency training (iCT; Song & Dhariwal 2024, "Improved Techniques for
Training Consistency Models") on Fashion-MNIST from scratch, no teacher
(``diffax.objectives.consistency_training``, ``variant="ict"``), with the teacher's
network (``fashion_mnist_edm.py``'s U-Net and EDM process, sigma in [0.002, 80]).

The consistency function f(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x,
log(sigma) / 4) (sigma_data = 0.5; c_skip = 1, c_out = 0 at sigma_min) learns, for x ~
data, z ~ N(0, I) and adjacent levels sigma_n < sigma_{n+1} of the Karras grid (eq. 5,
rho = 7) with N(k) levels at step k,

    L = E[ lambda(sigma_n) d( f_theta(x + sigma_{n+1} z, sigma_{n+1}),
                              stopgrad f_theta(x + sigma_n z, sigma_n) ) ],

the paper's defaults (Sec. 3): the target is the online network under a stop-gradient
(no EMA target), lambda = 1 / (sigma_{n+1} - sigma_n), pseudo-Huber d(a, b) =
sqrt(||a - b||^2 + c^2) - c with c = 0.00054 sqrt(784), levels n drawn lognormally
(P_mean = -1.1, P_std = 2), and the exponential curriculum N(k) = min(s0 2^floor(k/K'),
s1) + 1, s0 = 10, s1 = 1280, K' = floor(K / (log2 floor(s1 / s0) + 1)) = K / 8.

Scaled to the step budget: the curriculum's total K is the run's step count
(``objective.kwargs.total_steps`` = ``training.n_steps``; set both when overriding the
steps: ``benchmarks.few_step_methods`` does), so N reaches 1281 levels in the last eighth
of the run whatever its length (the paper: K = 400k steps, K' = 50k).

Differences from the paper, stated: the optimiser and EMA are the teacher's CPU recipe
(Adam 2e-3 with warmup and cosine decay, sampling EMA 0.995), not iCT's (Adam 1e-4,
batch 512-1024, EMA 0.99993 over 400k steps), which would not move in a CPU-sized run;
no dropout (the paper: 0.3 on CIFAR-10). Sampled with the multistep consistency sampler on
the Karras schedule (its 2-step midpoint is sigma = 2.5; the paper's is 0.821)."""

import ml_collections

from configs.image import fashion_mnist_edm


def get_config():
    c = fashion_mnist_edm.get_config()
    c.objective.name = "consistency_training"
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        variant="ict", total_steps=c.training.n_steps))
    c.sampling.sampler = "consistency"
    c.sampling.schedule = "karras"
    c.sampling.nfe = 2
    c.eval.samplers = ("consistency",)
    c.eval.nfes = (1, 2, 4, 8)
    c.eval.likelihood_num_examples = 0  # f is not a PF-ODE model
    return c
