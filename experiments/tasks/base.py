"""What a task tells the task-agnostic runner (issue 16: one file per task, no
``if task == ...`` in the runner or the train step).

A task owns everything that depends on what the data are:

* its data: the dataset of a split (:meth:`Task.dataset`) and the :class:`ElementSpec`
  of one example: keys, shapes and dtypes, which key is generated (``data``), which keys
  condition the network (``condition``: every one reaches ``net(x, c, **cond)``) and which
  of those are masks;
* its network, built from the spec (:meth:`Task.network_kwargs`);
* the batch transform the train step applies (:meth:`Task.batch_transform`: label
  dropout by default, target masks for imputation);
* the conditioning a sampler receives (:meth:`Task.sample_condition`);
* its evaluation: the features sample metrics use by default, the likelihood of held-out
  data in the task's units and extra per-sample metrics (:meth:`Task.default_features`,
  :meth:`Task.heldout_likelihood`, :meth:`Task.extra_metrics`);
* for conditional tasks (``conditional = True``: imputation, forecasting), how a held-out
  batch becomes a condition and a score (:meth:`Task.eval_condition`,
  :meth:`Task.summarize`, :meth:`Task.score`, :meth:`Task.condition_pictures`);
* its pictures (:meth:`Task.pictures`);
* for networks that no diffusion sampler draws from (a neural SDE classifier), its own
  sample and evaluation modes (:meth:`Task.sample_mode`, :meth:`Task.evaluate_mode`).

The default methods serve vector-like data; image, sequence, point-set and token tasks
override what differs. Model space is the space the pipeline already delivers (images
in [-1, 1], float vectors), so ``to_model``/``from_model`` are identities unless a task
overrides them (e.g. tokens to one-hot vectors and back).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import ml_collections
import numpy as np

from diffax import data as ddata
from diffax import objectives


@dataclasses.dataclass(frozen=True)
class ElementSpec:
    """One example of a task: ``shapes[key]`` and ``dtypes[key]`` per key; ``data`` is
    the generated key, ``condition`` the keys handed to the network and sampler, ``masks``
    the condition keys that are masks; ``num_classes`` of a ``label`` key, if any."""

    shapes: Mapping[str, tuple[int, ...]]
    dtypes: Mapping[str, str]
    data: str = "x"
    condition: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    num_classes: int | None = None

    def __post_init__(self):
        missing = [k for k in (self.data, *self.condition, *self.masks) if k not in self.shapes]
        if missing:
            raise ValueError(f"ElementSpec: keys {missing} have no shape; known keys: "
                             f"{sorted(self.shapes)}.")
        if not set(self.masks) <= set(self.condition):
            raise ValueError(f"ElementSpec: masks {list(self.masks)} must be condition keys "
                             f"({list(self.condition)}).")

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.shapes[self.data])


class Task:
    """Base task (vector-like data); see the module docstring.

    A task instance belongs to one experiment: :func:`experiments.tasks.get_task` binds
    the experiment's config (:attr:`config`), which the hooks without a ``config``
    argument (``summarize``, ``score``, ``extra_metrics``, pictures) read."""

    name = "base"
    # True: evaluation conditions samples on held-out batches (see eval_condition)
    conditional = False

    def __init__(self, config: ml_collections.ConfigDict | None = None):
        self._config = config

    @property
    def config(self) -> ml_collections.ConfigDict:
        """The experiment's config (bound by ``get_task(name, config)``)."""
        if self._config is None:
            raise ValueError(f"task {self.name!r} has no config bound; create it with "
                             f"experiments.tasks.get_task({self.name!r}, config).")
        return self._config

    # -- data ---------------------------------------------------------------------------
    def dataset(self, config: ml_collections.ConfigDict, split: str) -> Any:
        return ddata.get_dataset(config.data.name, split=split, **dict(config.data.kwargs))

    def spec(self, config: ml_collections.ConfigDict, dataset: Any,
             example: Mapping[str, np.ndarray]) -> ElementSpec:
        """The spec of one pipeline example (``example``: a batch from the pipeline)."""
        conditional = bool(config.model.class_conditional)
        if conditional and not dataset.num_classes:
            raise ValueError(f"model.class_conditional=True but dataset {config.data.name!r} "
                             f"has no labels; set model.class_conditional=False.")
        keys = ["x"] + (["label"] if conditional else [])
        return ElementSpec({k: tuple(np.shape(example[k])[1:]) for k in keys},
                           {k: str(np.asarray(example[k]).dtype) for k in keys},
                           condition=("label",) if conditional else (),
                           num_classes=dataset.num_classes if conditional else None)

    # -- model space --------------------------------------------------------------------
    def to_model(self, batch: dict) -> dict:
        """A pipeline batch in the model's space (identity: the pipeline already delivers
        images in [-1, 1] and float vectors)."""
        return batch

    def from_model(self, samples):
        """Generated samples (jax array, inside the jitted sampler) back in data space."""
        return samples

    # -- network ------------------------------------------------------------------------
    def network_kwargs(self, config: ml_collections.ConfigDict, spec: ElementSpec) -> dict:
        return {**dict(config.model.kwargs), "data_dim": spec.data_shape[-1],
                "num_classes": spec.num_classes}

    # -- training -----------------------------------------------------------------------
    def batch_transform(self, config: ml_collections.ConfigDict, spec: ElementSpec, *,
                        train: bool) -> Callable[[dict, jax.Array], dict] | None:
        """``transform(batch, key) -> batch`` applied inside the jitted step before the
        objective (``train=True``) and to held-out batches for the test loss
        (``train=False``, a fixed key). Default: classifier-free-guidance label dropout
        while training class-conditional models, nothing at evaluation."""
        if not train:
            return None
        return objectives.label_dropout(
            config.training.label_dropout if spec.num_classes else 0.0, spec.num_classes)

    # -- sampling -----------------------------------------------------------------------
    def sample_condition(self, spec: ElementSpec, num_samples: int,
                         labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Conditioning for ``num_samples`` generated examples: class labels 0, 1, ...
        cycling (or ``labels``) for class-conditional models, nothing otherwise."""
        if spec.num_classes is None:
            return {}
        labels = np.arange(num_samples) % spec.num_classes if labels is None else labels
        return {"label": np.asarray(labels, np.int32)}

    def sample_states(self, config: ml_collections.ConfigDict) -> int:
        """How many of the sampler's last states evaluation keeps per draw (1: the final
        sample only; more, e.g. ImDiffusion's intermediate-step ensemble, reach
        :meth:`summarize` as ``states``)."""
        return 1

    # -- evaluation ---------------------------------------------------------------------
    def default_features(self, dataset: Any) -> str:
        """The features ``eval.features="auto"`` means: flattened data."""
        return "pixels"

    def eval_condition(self, config: ml_collections.ConfigDict, batch: dict,
                       key: jax.Array) -> dict[str, np.ndarray]:
        """Conditional tasks: the sampler's conditioning for a held-out model-space
        ``batch`` (e.g. observed values with targets hidden)."""
        raise NotImplementedError(f"task {self.name!r} is not conditional.")

    def summarize(self, samples: np.ndarray, batch: dict, condition: dict,
                  dataset: Any, states: np.ndarray | None = None) -> dict:
        """Conditional tasks: what :meth:`score` needs of ``samples`` (S, B, ...), the S
        draws for each example of ``batch``, kept small (quantiles, not every draw).
        ``states`` (k, S, B, ...): the sampler's last k states (the last is ``samples``)
        when :meth:`sample_states` asks for k > 1, else None."""
        raise NotImplementedError(f"task {self.name!r} is not conditional.")

    def score(self, summaries: list[dict], dataset: Any) -> dict:
        """Conditional tasks: the metrics of all summarised batches."""
        raise NotImplementedError(f"task {self.name!r} is not conditional.")

    def condition_pictures(self, samples: np.ndarray, batch: dict, condition: dict,
                           dataset: Any, path: str) -> np.ndarray | None:
        """Conditional tasks: a picture of the draws ``samples`` (S, B, ...) given
        ``condition`` next to ``batch``; None when the task has none."""
        return None

    def heldout_likelihood(self, model_fn, process, kind: str, x: np.ndarray, labels, key, *,
                           divergence: str, rtol: float) -> dict:
        """PF-ODE negative log-likelihood of held-out examples, in nats."""
        from experiments import evaluation

        return evaluation.heldout_likelihood(model_fn, process, kind, x, labels, key,
                                             divergence=divergence, rtol=rtol, images=False)

    def extra_metrics(self, samples: np.ndarray, condition: dict, dataset: Any) -> dict:
        """Task-specific numbers for one set of samples (none by default)."""
        return {}

    # -- models that are not diffusion samplers ---------------------------------------
    def sample_mode(self, exp: Any, graphdef: Any, state: Any, workdir: str
                    ) -> np.ndarray | None:
        """``--mode=sample`` for a task whose network is not sampled by a diffusion
        sampler (e.g. a neural SDE: draws of its Brownian paths for held-out series):
        write its outputs under ``workdir/samples`` and return them. None (the default):
        the runner samples with ``config.sampling``'s sampler."""
        return None

    def evaluate_mode(self, exp: Any, graphdef: Any, state: Any, workdir: str
                      ) -> dict | None:
        """``--mode=eval`` for such a task: its metrics (added to ``metrics.json`` next to
        the held-out loss, in place of the sampler-based sample metrics). None (the
        default): the runner's sample metrics."""
        return None

    # -- pictures -----------------------------------------------------------------------
    def inverse_pictures(self, measured: np.ndarray, solved: np.ndarray, truth: np.ndarray,
                         path: str) -> np.ndarray | None:
        """``--mode=inverse``: a picture of measurements (drawn in data space),
        reconstructions and the truth at ``path``; None when the task has none."""
        return None

    def pictures(self, samples: np.ndarray, path: str,
                 reference: np.ndarray | None = None) -> np.ndarray | None:
        """Write a picture of ``samples`` to ``path``; return it (H, W, 3) uint8, or None
        when the task has no picture for them."""
        from experiments import plots

        samples = np.asarray(samples)
        if samples.ndim == 2 and samples.shape[1] == 2:
            return plots.scatter_2d(samples, path, reference)
        return None


__all__ = ["ElementSpec", "Task"]
