"""Molecules in 3-D (``"mol:*"`` data): E(3)-equivariant diffusion as in EDM (Hoogeboom
et al. 2022, "Equivariant Diffusion for Molecule Generation in 3D").

A pipeline example is ``x`` (N, 3 + F) = [positions in Angstrom with zero mean over the
real atoms, one-hot atom types] and ``node_mask`` (N,). In model space the one-hot
channels are scaled by ``ONE_HOT_SCALE = 1/4`` (EDM's normalisation factors
[1, 4, 10] for positions, one-hot types and charges; charges are not modelled here), and
every batch gets ``loss_mask = node_mask[..., None]``, so the regression counts the real
atoms only and padding never reaches the loss. ``node_mask`` conditions the network
(``net(x, c, node_mask=...)``, :class:`diffax.nn.EGNN`).

**Zero centre of mass without a core change.** EDM diffuses positions in the subspace
sum_i r_i = 0: training noise, prior and sampler noise are projected onto it. Here the
noise is the library's full-space Gaussian, and the projection P (mean over real atoms
removed) is applied once, to the final sample. This is exact for a network whose
position output is translation-invariant and lies in the subspace (the EGNN's is):

* training: with x_t = alpha x0 + sigma eps and P x0 = x0, the network sees only
  P x_t = alpha x0 + sigma P eps, and the squared error splits into
  ||pred - P eps||^2 + ||(I - P) eps||^2 (orthogonal parts; for the eps target, and the
  same for any target linear in (x0, eps)). The second term does not depend on the
  parameters: gradients equal those of EDM's projected-noise loss, and the loss value
  is larger by a parameter-free constant (3 of the 3n position dimensions per molecule);
* sampling: every fixed-step sampler update is linear in (state, model output, fresh
  noise) with coefficients that do not depend on the state, and P commutes with it, so
  P(final state) is the result of the same sampler run from P x_init with projected
  noise P z_k at every step, i.e. EDM's subspace prior and noise exactly.

The same holds for Karras et al. (2022)'s preconditioned denoiser
D(x) = c_skip x + c_out F(c_in x) (configs/molecules/g2.py): F sees P x only and its
position output lies in the subspace, so (I - P)(D - x0) = c_skip sigma (I - P) eps is
parameter-free in the loss, and D's affine dependence on x keeps every fixed-step
update affine with state-independent coefficients.

Both statements are tested for both settings (tests/experiments/tasks/test_molecules_task.py). The
padding rows of a sample are noise the network never looked at; the atom count of each
sample is drawn from the training split's histogram (:meth:`sample_condition`) and the
metrics read only the real rows.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from diffax.data.molecules import MoleculeDataset
from diffax.metrics.molecules import molecule_metrics
from experiments.tasks.base import ElementSpec, Task

ONE_HOT_SCALE = 0.25
POSITION_DIMS = 3
# the atom counts of generated molecules: a fixed stream, so that the same num_samples
# always gets the same counts and a prefix of the draws keeps its counts
COUNT_SEED = 20220317


def project_zero_com(positions: np.ndarray, node_mask: np.ndarray) -> np.ndarray:
    """``m_i (r_i - mean_{j real} r_j)`` (numpy; see diffax.nn.egnn.zero_center_of_mass)."""
    m = np.asarray(node_mask, np.float64)[..., None]
    mean = (positions * m).sum(1, keepdims=True) / np.maximum(m.sum(1, keepdims=True), 1)
    return (positions - mean) * m


class MoleculeTask(Task):
    """3-D molecule generation with an EGNN (module docstring)."""

    name = "molecules"
    _histogram: np.ndarray | None = None
    _elements: tuple[str, ...] = ()

    # -- data ---------------------------------------------------------------------------
    def spec(self, config, dataset: Any, example) -> ElementSpec:
        if not isinstance(dataset, MoleculeDataset):
            raise ValueError(f"task 'molecules' needs a molecule data set ('mol:g2', "
                             f"'mol:rdkit', 'mol:qm9'); got {config.data.name!r}.")
        if config.model.class_conditional:
            raise ValueError("task 'molecules' is unconditional; set "
                             "model.class_conditional=False.")
        if self._histogram is None:  # the training split's atom counts, kept for sampling
            self._histogram = dataset.atom_count_histogram()
            self._elements = dataset.elements
        keys = ("x", "node_mask")
        return ElementSpec({k: tuple(np.shape(example[k])[1:]) for k in keys},
                           {k: str(np.asarray(example[k]).dtype) for k in keys},
                           condition=("node_mask",), masks=("node_mask",))

    def to_model(self, batch: dict) -> dict:
        x = np.array(batch["x"], np.float32)
        x[..., POSITION_DIMS:] *= ONE_HOT_SCALE
        return {**batch, "x": x}

    def from_model(self, samples):
        scale = jnp.concatenate([jnp.ones(POSITION_DIMS, samples.dtype),
                                 jnp.full(samples.shape[-1] - POSITION_DIMS,
                                          1.0 / ONE_HOT_SCALE, samples.dtype)])
        return samples * scale

    def network_kwargs(self, config, spec: ElementSpec) -> dict:
        return {**dict(config.model.kwargs),
                "num_features": spec.data_shape[-1] - POSITION_DIMS}

    def batch_transform(self, config, spec: ElementSpec, *, train: bool):
        def transform(batch: dict, key) -> dict:
            return {**batch, "loss_mask": batch["node_mask"][..., None]}
        return transform

    # -- sampling -----------------------------------------------------------------------
    def atom_counts(self, num_samples: int) -> np.ndarray:
        """Atom counts of ``num_samples`` generated molecules, drawn from the training
        split's histogram by inverse CDF on a fixed uniform stream."""
        if self._histogram is None:
            raise ValueError("task 'molecules': no atom-count histogram yet (spec() of the "
                             "training data sets it).")
        cdf = np.cumsum(self._histogram) / self._histogram.sum()
        u = np.random.default_rng(COUNT_SEED).random(num_samples)
        return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)

    def sample_condition(self, spec: ElementSpec, num_samples: int,
                         labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
        n_max = spec.shapes["node_mask"][0]
        counts = self.atom_counts(num_samples)
        return {"node_mask": (np.arange(n_max) < counts[:, None]).astype(np.float32)}

    # -- evaluation ---------------------------------------------------------------------
    def decode(self, samples: np.ndarray, node_mask: np.ndarray):
        """(positions with zero mean over real atoms, type indices) of data-space
        samples."""
        samples = np.asarray(samples, np.float64)
        pos = project_zero_com(samples[..., :POSITION_DIMS], node_mask)
        types = samples[..., POSITION_DIMS:].argmax(-1)
        return pos, types

    def extra_metrics(self, samples: np.ndarray, condition: dict, dataset: Any) -> dict:
        mask = np.asarray(condition["node_mask"])
        pos, types = self.decode(samples, mask)
        m = molecule_metrics(pos, types, mask, self._elements or dataset.elements)
        m.pop("stable")
        return {f"mol_{k}": v for k, v in m.items()}

    def heldout_likelihood(self, model_fn, process, kind, x, labels, key, *, divergence,
                           rtol) -> dict:
        raise ValueError("task 'molecules': the held-out likelihood needs the node mask "
                         "and the zero-CoM subspace dimension; set "
                         "eval.likelihood_num_examples=0.")

    def pictures(self, samples: np.ndarray, path: str, reference=None):
        """3-D scatter of up to 16 molecules (atoms coloured by element, bonds as
        inferred by the metrics)."""
        from diffax.metrics.molecules import bond_orders
        from experiments import plots

        samples = np.asarray(samples)[:16]
        mask = self.sample_condition(ElementSpec({"x": samples.shape[1:],
                                                  "node_mask": samples.shape[1:2]},
                                                 {"x": "float32", "node_mask": "float32"}),
                                     len(samples))["node_mask"]
        pos, types = self.decode(samples, mask)
        plt = plots._pyplot()
        cols = 4
        rows = -(-len(samples) // cols)
        fig = plt.figure(figsize=(3 * cols, 3 * rows))
        cmap = plt.get_cmap("tab10")
        for b in range(len(samples)):
            ax = fig.add_subplot(rows, cols, b + 1, projection="3d")
            real = mask[b] > 0.5
            p, t = pos[b][real], types[b][real]
            symbols = [self._elements[k] for k in t]
            orders = bond_orders(symbols, p)
            for i, j in zip(*np.nonzero(np.triu(orders))):
                ax.plot(*p[[i, j]].T, color="grey", lw=1)
            ax.scatter(*p.T, c=[cmap(k % 10) for k in t], s=40)
            ax.set_title(f"{int(real.sum())} atoms", fontsize=8)
            ax.set_axis_off()
        return plots._save(fig, path)


__all__ = ["MoleculeTask", "ONE_HOT_SCALE", "project_zero_com"]
