"""Molecules in 3-D (``"mol:*"`` data): E(3)-equivariant diffusion as in EDM (Hoogeboom
et al. 2022, "Equivariant Diffusion for Molecule Generation in 3D").

A pipeline example is ``x`` (N, 3 + F [+ 1]) = [positions in Angstrom with zero mean over
the real atoms, one-hot atom types, and with ``config.data.include_charges`` (default
True, EDM's QM9 setting) the atomic number as EDM's integer feature] and ``node_mask``
(N,). In model space the one-hot channels are scaled by ``ONE_HOT_SCALE = 1/4`` and the
charge by ``CHARGE_SCALE = 1/10`` (EDM's normalisation factors [1, 4, 10] for positions,
one-hot types and charges); the charge is modelled and denoised with the one-hot as one
more invariant feature channel of the EGNN. Decoding takes the argmax of the one-hot
channels; the charge channel is rounded and reported next to it (its agreement with the
decoded element, ``mol_charge_consistency``). Every batch gets
``loss_mask = node_mask[..., None]``, so the regression counts the real atoms only and
padding never reaches the loss. ``node_mask`` conditions the network
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

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax import data as ddata
from diffax.data.molecules import MoleculeDataset, atomic_number
from diffax.metrics.molecules import molecule_metrics
from diffax.training import host_arrays
from experiments.tasks.base import ElementSpec, Task

ONE_HOT_SCALE = 0.25
CHARGE_SCALE = 0.1
POSITION_DIMS = 3
#: ``config.data.include_charges`` when the config does not set it (EDM's QM9 setting)
INCLUDE_CHARGES = True
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
    def include_charges(self) -> bool:
        """``config.data.include_charges`` (default :data:`INCLUDE_CHARGES`)."""
        data = getattr(self.config, "data", None)
        value = data.get("include_charges", INCLUDE_CHARGES) if data is not None else (
            INCLUDE_CHARGES)
        return checks.boolean("task 'molecules'", "data.include_charges", value)

    def dataset(self, config, split: str) -> Any:
        kwargs = dict(config.data.kwargs)
        if "include_charges" in kwargs:
            raise ValueError("task 'molecules': set data.include_charges, not "
                             f"data.kwargs.include_charges={kwargs['include_charges']!r}.")
        return ddata.get_dataset(config.data.name, split=split,
                                 include_charges=self.include_charges(), **kwargs)

    def channel_scales(self, num_channels: int) -> np.ndarray:
        """Model-space scale of each of the ``num_channels`` channels: 1 (positions),
        1/4 (one-hot), 1/10 (the charge, when included)."""
        scale = np.full(num_channels, ONE_HOT_SCALE, np.float32)
        scale[:POSITION_DIMS] = 1.0
        if self.include_charges():
            scale[-1] = CHARGE_SCALE
        return scale

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
        return {**batch, "x": x * self.channel_scales(x.shape[-1])}

    def from_model(self, samples):
        scale = 1.0 / self.channel_scales(samples.shape[-1])
        return samples * jnp.asarray(scale, samples.dtype)

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
    def one_hot_channels(self, x: np.ndarray) -> np.ndarray:
        """The one-hot type channels of data- or model-space ``x`` (..., 3 + F [+ 1])."""
        return x[..., POSITION_DIMS:x.shape[-1] - int(self.include_charges())]

    def decode(self, samples: np.ndarray, node_mask: np.ndarray):
        """(positions with zero mean over real atoms, type indices) of data-space
        samples: the argmax of the one-hot channels (the charge channel is not used;
        :meth:`decode_charges`)."""
        samples = np.asarray(samples, np.float64)
        pos = project_zero_com(samples[..., :POSITION_DIMS], node_mask)
        types = self.one_hot_channels(samples).argmax(-1)
        return pos, types

    def decode_charges(self, samples: np.ndarray) -> np.ndarray | None:
        """The charge channel of data-space samples rounded to integers (EDM's decoding
        of h_int), or None without charges."""
        if not self.include_charges():
            return None
        return np.rint(np.asarray(samples, np.float64)[..., -1]).astype(np.int64)

    def extra_metrics(self, samples: np.ndarray, condition: dict, dataset: Any) -> dict:
        mask = np.asarray(condition["node_mask"])
        elements = self._elements or dataset.elements
        pos, types = self.decode(samples, mask)
        m = molecule_metrics(pos, types, mask, elements)
        m.pop("stable")
        out = {f"mol_{k}": v for k, v in m.items()}
        charges = self.decode_charges(samples)
        if charges is not None:  # does the charge channel name the decoded element?
            z = np.array([atomic_number(e) for e in elements])[types]
            real = mask > 0.5
            out["mol_charge_consistency"] = float(np.mean(charges[real] == z[real]))
        return out

    def heldout_likelihood(self, model_fn, process, kind, x, labels, key, *, divergence,
                           rtol, batch_size: int = 32) -> dict:
        """PF-ODE negative log-likelihood of held-out molecules on EDM's zero-CoM
        subspace (:mod:`experiments.tasks.molecules_likelihood`), in nats per molecule.

        ``x`` are data-space examples (the node mask is read off the one-hot channels).
        ``nll_nats`` is in model space (one-hot x 1/4, charge x 1/10);
        ``nll_nats_data_space`` adds the log-Jacobian of that scaling, F n log 4 (+ n log
        10) per molecule, i.e. the density of the data-space features. Per-dimension
        values divide by the subspace dimension 3 (n - 1) + F n summed over molecules.
        ``nelbo_nats``: the negative continuous VDM bound on the same subspace (64
        stratified log-SNR samples per molecule), an upper bound on the NLL.
        ``nelbo_nats_discrete_features``: the same bound with EDM's discrete decoder for
        the atom types and charges, -log p(x, h) with h a probability mass (EDM's NLL;
        no Jacobian: positions have unit scale in both spaces, masses have none).
        ``divergence="auto"``: exact up to 16 data dimensions, else Hutchinson."""
        from experiments.tasks.molecules_likelihood import (
            DiscreteFeatures, subspace_dims, subspace_elbo_discrete_features,
            subspace_log_likelihood)
        del labels
        x = np.asarray(x, np.float32)
        mask = (self.one_hot_channels(x).sum(-1) > 0.5).astype(np.float32)
        y = self.to_model({"x": x})["x"]
        num_features = x.shape[-1] - POSITION_DIMS
        charges = self.include_charges()
        features = DiscreteFeatures(num_features - int(charges), ONE_HOT_SCALE,
                                    CHARGE_SCALE if charges else None)
        if divergence == "auto":
            divergence = "exact" if x.shape[1] * x.shape[2] <= 16 else "hutchinson"

        @jax.jit
        def one_batch(y, m, k):
            k_ode, k_elbo = jax.random.split(k)
            log_p = subspace_log_likelihood(model_fn, process, kind, y, m,
                                            divergence=divergence, key=k_ode, rtol=rtol,
                                            atol=rtol).log_prob
            gaussian, discrete = subspace_elbo_discrete_features(
                model_fn, process, kind, y, m, k_elbo, features)
            return jnp.stack([log_p, gaussian.elbo, discrete.elbo], -1)

        values = []
        for i, start in enumerate(range(0, len(y), batch_size)):
            rows, ms = y[start:start + batch_size], mask[start:start + batch_size]
            pad = batch_size - len(rows)  # one compiled shape: repeat the last row
            rows, ms = host_arrays.pad_rows(rows, batch_size), host_arrays.pad_rows(ms, batch_size)
            k = jax.random.fold_in(key, i)
            values.append(np.asarray(one_batch(rows, ms, k))[:batch_size - pad])
        log_p, elbo, elbo_discrete = np.concatenate(values).astype(np.float64).T
        n = mask.sum(-1)
        dims = np.asarray(subspace_dims(mask, num_features), np.float64)
        # log p_x(x) = log p_y(y) + log|det dy/dx|, dy/dx = diag(scales) on the real rows
        log_det = np.log(self.channel_scales(x.shape[-1])[POSITION_DIMS:]).sum() * n
        data_space = log_p + log_det
        return {"nll_nats": float(-log_p.mean()),
                "nll_nats_sem": float(log_p.std() / np.sqrt(len(log_p))),
                "nll_nats_per_dim": float(-log_p.sum() / dims.sum()),
                "nll_nats_data_space": float(-data_space.mean()),
                "nll_nats_data_space_per_dim": float(-data_space.sum() / dims.sum()),
                "nelbo_nats": float(-elbo.mean()),
                "nelbo_nats_data_space": float(-(elbo + log_det).mean()),
                "nelbo_nats_discrete_features": float(-elbo_discrete.mean()),
                "subspace_dims_mean": float(dims.mean()), "num_examples": int(len(log_p)),
                "divergence": divergence, "rtol": rtol, "conditional_on_labels": False,
                "space": "zero-CoM subspace: 3 (n - 1) position + F n feature dims"}

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


__all__ = ["CHARGE_SCALE", "INCLUDE_CHARGES", "MoleculeTask", "ONE_HOT_SCALE",
           "project_zero_com"]
