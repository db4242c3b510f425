"""The shared problem of the UniPC and DEIS mutation tests (test_unipc_mutants.py,
test_deis_mutants.py): VP-linear, a grid non-uniform in t, three 2-D states, and an eps
model that depends on x and t, eps(x, t) = 0.3 sin x + 3 sin 9t + 2t (+ shift), also
as a data prediction x0 = (x - sigma eps) / alpha. unipc_by_hand.py transcribes the same
model in NumPy."""

import jax.numpy as jnp
import numpy as np

from diffax.processes import VPLinear

P = VPLinear()
TS = np.array([0.95, 0.8, 0.7, 0.5, 0.42, 0.2, 0.05])
X = np.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])


def model(x, t, shift=0.0):
    t = jnp.reshape(t, (-1, 1))
    return 0.3 * jnp.sin(x) + 3.0 * jnp.sin(9.0 * t) + 2.0 * t + shift


def model_needing_shift(x, t, *, shift):
    return model(x, t, shift)


def x0_model(x, t):
    """The same model as a data prediction: x0 = (x - sigma eps) / alpha."""
    tt = jnp.reshape(t, (-1, 1))
    return (x - P.sigma(tt) * model(x, t)) / P.alpha(tt)
