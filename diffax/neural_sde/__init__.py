"""Stable neural SDEs for irregular time series (Oh, Lim & Kim, ICLR 2024).

* :mod:`~diffax.neural_sde.sde_classes`: the Langevin-type (LSDE), linear-noise (LNSDE)
  and geometric (GSDE) classes as Itô SDEs (:func:`make_sde`);
* :mod:`~diffax.neural_sde.solve`: fixed-step diffrax solves (Euler-Maruyama, diagonal
  Milstein, reversible Heun) on a ``VirtualBrownianTree`` (:func:`solve`);
* :mod:`~diffax.neural_sde.paths`: controlled paths through irregular observations
  (natural cubic spline or linear, time and intensity channels);
* :mod:`~diffax.neural_sde.model`: :class:`StableNeuralSDE` (flax.nnx), classification
  or sequence readout;
* :mod:`~diffax.neural_sde.irregular`: missing-data protocols (random step dropping,
  forecast context);
* :mod:`~diffax.neural_sde.training`: losses, :func:`fit`, :func:`predict`;
* :mod:`~diffax.neural_sde.network` / :mod:`~diffax.neural_sde.objective`: the model as a
  ``diffax.nn`` network (``"stable_neural_sde"``) and its training objective
  (``"neural_sde"``), for the runner's ``ts_neural_sde`` task.

See docs/neural_sde.md.
"""

from diffax.neural_sde.irregular import drop_observations, forecast_mask
from diffax.neural_sde.model import DiffusionNet, DriftNet, StableNeuralSDE
from diffax.neural_sde.network import NeuralSDENetwork
from diffax.neural_sde.objective import NeuralSDEObjective, neural_sde_objective
from diffax.neural_sde.paths import (ControlPath, controlled_path, evaluate, fill_missing,
                                     linear_path, natural_cubic_path, unit_times)
from diffax.neural_sde.sde_classes import SDE, SDE_CLASSES, make_sde
from diffax.neural_sde.solve import (SOLVERS, DiagonalMilstein, brownian_motion, solve,
                                     stratonovich_drift)
from diffax.neural_sde.training import (classification_loss, fit, masked_mse, predict,
                                        reconstruction_loss)

__all__ = [
    "SDE", "SDE_CLASSES", "SOLVERS", "ControlPath", "DiagonalMilstein", "DiffusionNet",
    "DriftNet", "NeuralSDENetwork", "NeuralSDEObjective", "StableNeuralSDE",
    "brownian_motion", "classification_loss", "controlled_path", "drop_observations",
    "evaluate", "fill_missing", "fit", "forecast_mask", "linear_path", "make_sde",
    "masked_mse", "natural_cubic_path", "neural_sde_objective", "predict",
    "reconstruction_loss", "solve", "stratonovich_drift", "unit_times",
]
