"""Golden outputs: record what the library computes on fixed problems, compare later.

Issue 16 (one architecture for tasks, objectives, process families and samplers) must
not change any result. This script records, in float64 with fixed seeds, the outputs
of every registered sampler, loss, likelihood estimator and inverse solver on small
exact-oracle problems, plus the parameters after 50 training steps of two configs, and
later recomputes them on a new tree and compares::

    python -m benchmarks.golden_outputs record --out docs/benchmarks/golden/golden.npz [--only PATTERN]
    python -m benchmarks.golden_outputs compare docs/benchmarks/golden/golden.npz [--only PATTERN] [--rtol 1e-12]
    python -m benchmarks.golden_outputs compare OLD.npz --against NEW.npz   # two recordings, no computing
    python -m benchmarks.golden_outputs list [--only PATTERN]              # what would be recorded

Entries are named ``<group>/...`` (see :data:`GROUPS`), e.g. ``sampler/ddim/nfe6/x``,
``loss/dsm/eps/snr/antithetic/vp_linear/value``, ``train/gmm2d/params/<path>``.
``--only`` takes a shell pattern (``fnmatch``; ``*`` also matches ``/``) on entry names
and may be repeated; a pattern that matches no entry is an error that lists the groups.
Only the computations behind the selected entries run, so ``--only 'sampler/ddim/*'``
takes seconds.

``compare`` recomputes the selected entries (by default those of the golden file's own
``--only``) and prints one row per entry: name, max abs diff, max rel diff (relative to
``max(|golden|, tiny)``) and a status: ``identical`` (bitwise), ``within_rtol``,
``FAIL`` (over ``--rtol``/``--atol``, or another shape or dtype, or NaNs elsewhere),
``MISSING`` (in the golden file, not computed now: a removed sampler or loss is a
failure to explain, never a silent pass) or ``NEW`` (computed now, not in the golden
file). It ends with the counts of each and exits 1 if anything failed, is missing or
is new; bad arguments exit 2.

The file is an ``.npz`` with one array per entry and a ``__meta__`` entry holding JSON
(jax/jaxlib versions, CPU model and SIMD flags, device count, git commit, date, the
x64 flag, the problems' settings, the ``--only`` patterns and what was skipped). The
``train`` group runs with x64 off (float32, as ``make run`` does); the other groups in
float64. Goldens are specific to the machine that recorded them: XLA:CPU code
generation differs by an ulp between CPUs (AVX2 vs AVX-512), so compare on the
recording machine. See docs/golden_outputs.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import fnmatch
import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]

META_KEY = "__meta__"
FORMAT_VERSION = 1
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Entry groups (the first component of every entry name), in recording order.
GROUPS: dict[str, str] = {
    "sampler": "every registered sampler at two NFE budgets on the 2-D mixture "
               "(VPLinear, eps model): final x, nfe, steps",
    "sampler_kind": "three samplers with an x0 / v / score / velocity model",
    "sampler_process": "four samplers on every other registered process",
    "schedule": "every timestep schedule on every process that accepts it",
    "loss": "every loss x kind x weighting x time sampling x supported process on a "
            "fixed batch: value and per-example auxiliaries; dsm gradients of a linear "
            "model",
    "likelihood": "PF-ODE (exact trace, Hutchinson), bits/dim, continuous and discrete "
                  "ELBO, Ito density",
    "inverse": "replacement, RePaint, DPS, PiGDM, RED-diff, steered (inpainting, random "
               "projection); PiGDM, DPS and steered guidance with three samplers",
    "train": "parameters and EMA after 50 training steps of configs/toy/gmm2d.py and "
             "configs/image/fashion_mnist_edm.py (float32)",
}

# Fixed problem sizes and seeds (recorded in the metadata).
BATCH = 16
NFE_BUDGETS = (6, 12)
# Samplers that refuse both budgets: F-PNDM needs 4 steps (3 pseudo Runge-Kutta warm-up
# steps of 4 evaluations and one multistep step), NFE >= 13.
NFE_BUDGETS_FOR = {"f_pndm": (13, 16)}
SEED_PRIOR, SEED_SAMPLER, SEED_DATA, SEED_LOSS = 0, 1, 10, 11
TRAIN_STEPS = 50
KIND_SAMPLERS = ("euler", "ddim", "dpm_solver++_2m")
PROCESS_SAMPLERS = ("euler", "ddim", "dpm_solver++_2m", "edm_heun")
INVERSE_DIM, INVERSE_SIGMA_Y, INVERSE_STEPS = 8, 0.1, 10
# Solver options as in benchmarks/inverse.py.
INVERSE_METHODS: dict[str, dict[str, Any]] = {
    "replacement": {},
    "repaint": {"n_resample": 4, "jump_length": 5},
    "dps": {"zeta": 0.3},
    "pigdm": {"noise_std": INVERSE_SIGMA_Y, "prior_variance": 0.16},
    "red_diff": {"noise_std": INVERSE_SIGMA_Y},
    "steered": {"step_size": 2.0},
}
# Guidance wrappers of diffax.inverse (scales as in tests/inverse), with three samplers.
GUIDANCE = ("pigdm_guidance", "dps_guidance", "steered_guidance")
GUIDANCE_SAMPLERS = ("ddim", "euler", "dpm_solver++_2m")
TRAIN_CONFIGS = {"gmm2d": "configs/toy/gmm2d.py",
                 "fashion_mnist_edm": "configs/image/fashion_mnist_edm.py"}


# ---- cases: the unit of computation -----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    """One computation of the recording.

    Attributes:
      prefix: the name every entry it returns starts with (``prefix + "/..."``); the
        first component is its group.
      run: computes the entries, ``{full entry name: array}``.
      x64: whether it runs with ``jax_enable_x64`` on (all but the training runs).
    """

    prefix: str
    run: Callable[[], Arrays]
    x64: bool = True

    @property
    def group(self) -> str:
        return self.prefix.split("/", 1)[0]


def _pattern_cuts(pattern: str) -> list[str]:
    """The prefixes of ``pattern`` at which an entry name ``case/rest`` may be split
    into a part matching the case prefix and a part matching ``/rest``: before a
    ``/``, ``?``, ``[`` or ``*`` and just after a ``*`` (a star may span the slash)."""
    cuts = {pattern}
    for i, ch in enumerate(pattern):
        if ch in "/?[*":
            cuts.add(pattern[:i])
        if ch == "*":
            cuts.add(pattern[:i + 1])
    return sorted(c for c in cuts if c)


def case_selected(prefix: str, patterns: Sequence[str] | None) -> bool:
    """Whether an entry ``prefix/...`` could match one of ``patterns`` (None: all).
    Conservative: it may select a case none of whose entries match, never the
    reverse; entries are filtered by :func:`entry_selected` afterwards."""
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(prefix, cut) for pat in patterns for cut in _pattern_cuts(pat))


def entry_selected(name: str, patterns: Sequence[str] | None) -> bool:
    """Whether entry ``name`` matches one of the shell ``patterns`` (None: all)."""
    return not patterns or any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def _groups_help(cases: Sequence[Case]) -> str:
    counts: dict[str, int] = {}
    for c in cases:
        counts[c.group] = counts.get(c.group, 0) + 1
    lines = [f"  {g}/ ({counts.get(g, 0)} computations): {GROUPS[g]}" for g in GROUPS]
    return ("entry names start with a group; available groups:\n" + "\n".join(lines)
            + "\nexamples: --only 'sampler/ddim/*' --only 'loss/dsm/eps/snr/*' "
              "--only 'train/gmm2d/*' (python -m benchmarks.golden_outputs list shows "
              "every computation)")


def select_cases(cases: Sequence[Case], patterns: Sequence[str] | None) -> list[Case]:
    """The cases behind ``patterns``; a pattern that selects none is a ValueError
    naming it and listing the groups."""
    for pat in patterns or ():
        if not any(case_selected(c.prefix, [pat]) for c in cases):
            raise ValueError(f"--only {pat!r} matches no golden entry.\n{_groups_help(cases)}")
    return [c for c in cases if case_selected(c.prefix, patterns)]


def check_patterns_matched(names: Iterable[str], patterns: Sequence[str] | None,
                           cases: Sequence[Case]) -> None:
    """A ValueError if a pattern matched none of the entry ``names``."""
    names = list(names)
    for pat in patterns or ():
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise ValueError(f"--only {pat!r} matches no golden entry.\n{_groups_help(cases)}")


# ---- the fixed problems -----------------------------------------------------------------

class Problems:
    """The fixed float64 problems, built on first use (create one per recording, with
    x64 on)."""

    @functools.cached_property
    def mixture(self):
        """A 2-D mixture of three Gaussians with full covariances (seeded)."""
        from diffax.analytic import GaussianMixture
        rng = np.random.default_rng(2024)
        means = rng.normal(size=(3, 2)) * 1.5
        covs = []
        for _ in range(3):
            a = rng.normal(size=(2, 2)) * 0.35
            covs.append(a @ a.T + 0.08 * np.eye(2))
        return GaussianMixture.create(np.array([0.45, 0.35, 0.2]), means, np.stack(covs))

    @functools.cached_property
    def data(self):
        """(x0, component) of BATCH exact mixture samples."""
        import jax
        x, comp = self.mixture.sample(jax.random.PRNGKey(SEED_DATA), BATCH,
                                      return_component=True)
        return x, comp

    def prior(self, process_name: str):
        """BATCH samples of the prior of a registered process, float64 (cached)."""
        import jax
        import jax.numpy as jnp
        cache = self.__dict__.setdefault("_priors", {})
        if process_name not in cache:
            cache[process_name] = process(process_name).prior_sample(
                jax.random.PRNGKey(SEED_PRIOR), (BATCH, 2), jnp.float64)
        return cache[process_name]

    @functools.cached_property
    def image_mixture(self):
        """A 4-D isotropic mixture in [-1, 1] (2 x 2 x 1 'images') for bits/dim."""
        from diffax.analytic import GaussianMixture
        rng = np.random.default_rng(7)
        return GaussianMixture.isotropic([0.5, 0.5], rng.uniform(-0.5, 0.5, size=(2, 4)), 0.3)

    @functools.cached_property
    def inverse_prior(self):
        from diffax.analytic import GaussianMixture
        rng = np.random.default_rng(0)
        return GaussianMixture.isotropic([0.3, 0.3, 0.4],
                                         rng.normal(size=(3, INVERSE_DIM)) * 1.5, 0.4)

    def inverse_task(self, task: str):
        """(operator, y of shape (BATCH, ...)) of the inverse task ``task``, cached."""
        cache = self.__dict__.setdefault("_tasks", {})
        if task not in cache:
            cache[task] = self._make_inverse_task(task)
        return cache[task]

    def _make_inverse_task(self, task: str):
        import jax
        import jax.numpy as jnp
        from diffax.inverse import Mask, RandomProjection
        if task == "inpaint":
            mask = jnp.asarray((np.arange(INVERSE_DIM) < INVERSE_DIM // 2).astype(np.float64))
            op = Mask(mask=mask)
        else:
            op = RandomProjection.create(jax.random.PRNGKey(0), INVERSE_DIM // 2, INVERSE_DIM,
                                         dtype=jnp.float64)
        x_true = self.inverse_prior.sample(jax.random.PRNGKey(11), 1)
        y1 = op(x_true) + INVERSE_SIGMA_Y * jax.random.normal(jax.random.PRNGKey(2),
                                                              op(x_true).shape, jnp.float64)
        if task == "inpaint":
            y1 = y1 * mask
        return op, jnp.broadcast_to(y1, (BATCH,) + y1.shape[1:])


def process(name: str):
    """The registered process ``name`` with its default options."""
    from diffax.processes import get_process
    return get_process(name)


def process_names() -> list[str]:
    from diffax.processes import PROCESSES
    return list(PROCESSES)


def _np(tree: Any) -> Any:
    import jax
    return jax.tree_util.tree_map(lambda v: np.asarray(v), jax.device_get(tree))


def _fields(prefix: str, obj: Any, fields: Sequence[str]) -> Arrays:
    return {f"{prefix}/{f}": np.asarray(_np(getattr(obj, f))) for f in fields}


# ---- samplers ---------------------------------------------------------------------------

def _step_counts(name: str) -> list[tuple[str, int]]:
    """(label, steps) for the two runs of sampler ``name``: ``nfe<B>`` with the most
    steps that fit budget B (B in NFE_BUDGETS, or NFE_BUDGETS_FOR[name]); a sampler
    whose one step costs more than a budget (annealed Langevin: 100 evaluations per
    level) runs 1 and 2 steps, labelled ``steps<N>``."""
    from diffax.samplers import sampler_info
    info = sampler_info(name)
    runs = []
    for i, budget in enumerate(NFE_BUDGETS_FOR.get(name, NFE_BUDGETS)):
        steps = max(int(info.steps_for_nfe(budget)), 1)
        runs.append((f"nfe{budget}", steps) if info.nfe(steps) <= budget
                    else (f"steps{i + 1}", i + 1))
    return runs


def _run_sampler(probs: Problems, prefix: str, name: str, process_name: str, kind: str,
                 steps: int) -> Arrays:
    import jax
    from diffax.samplers import get_sampler, sampler_info, schedules
    info = sampler_info(name)
    sampler = get_sampler(name)
    p = process(process_name)
    model = probs.mixture.model_fn(kind, p)
    ts = schedules.uniform_log_snr(p, steps)

    def run(x, ts, key):
        kw = {"key": key} if info.stochastic else {}
        return sampler(model, p, x, ts, prediction=kind, **kw)

    out = jax.jit(run)(probs.prior(process_name), ts, jax.random.PRNGKey(SEED_SAMPLER))
    return {f"{prefix}/x": np.asarray(jax.device_get(out.x)),
            f"{prefix}/nfe": np.asarray(int(out.nfe), np.int64),
            f"{prefix}/steps": np.asarray(steps, np.int64)}


def sampler_cases(probs: Problems) -> list[Case]:
    from diffax.samplers import SAMPLERS
    cases = []
    for name in sorted(SAMPLERS):
        for label, steps in _step_counts(name):
            prefix = f"sampler/{name}/{label}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        "vp_linear", "eps", steps)))
    from diffax.predictions import KINDS
    for kind in KINDS:
        if kind == "eps":
            continue
        for name in KIND_SAMPLERS:
            prefix = f"sampler_kind/{kind}/{name}/nfe{NFE_BUDGETS[0]}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        "vp_linear", kind, _steps(name))))
    for pname in process_names():
        if pname == "vp_linear":
            continue
        for name in PROCESS_SAMPLERS:
            prefix = f"sampler_process/{pname}/{name}/nfe{NFE_BUDGETS[0]}"
            cases.append(Case(prefix, functools.partial(_run_sampler, probs, prefix, name,
                                                        pname, "eps", _steps(name))))
    return cases


def _steps(name: str) -> int:
    from diffax.samplers import sampler_info
    return int(sampler_info(name).steps_for_nfe(NFE_BUDGETS[0]))


def schedule_cases(skipped: list[dict]) -> list[Case]:
    """Every schedule x process x N in NFE_BUDGETS; combinations the schedule refuses
    (a ValueError when built, e.g. discrete spacings of a continuous process) are
    listed in ``skipped``."""
    from diffax.samplers import schedules
    cases = []
    for sname in schedules.SCHEDULES:
        for pname in process_names():
            for n in NFE_BUDGETS:
                prefix = f"schedule/{sname}/{pname}/n{n}"
                try:
                    ts = schedules.get_schedule(sname, process(pname), n)
                except ValueError as err:
                    skipped.append({"case": prefix, "reason": str(err)[:200]})
                    continue
                cases.append(Case(prefix, functools.partial(
                    lambda prefix, ts: {f"{prefix}/timesteps": np.asarray(ts)}, prefix, ts)))
    return cases


# ---- losses -----------------------------------------------------------------------------
# Losses run op by op (not jitted): the 1,000-odd combinations then cost seconds, not the
# minutes of as many XLA compilations, and the values do not depend on fusion choices.

def _loss_entries(prefix: str, out: tuple[Any, Mapping[str, Any]]) -> Arrays:
    value, aux = _np(out)
    entries = {f"{prefix}/value": np.asarray(value)}
    entries.update({f"{prefix}/aux/{k}": np.asarray(v) for k, v in sorted(aux.items())})
    return entries


def _run_loss(probs: Problems, prefix: str, model_kind: str, process_name: str,
              loss_fn: Callable) -> Arrays:
    """``loss_fn`` on the fixed batch with the exact ``model_kind`` mixture model."""
    import jax
    model = probs.mixture.model_fn(model_kind, process(process_name))
    x0, _ = probs.data
    return _loss_entries(prefix, loss_fn(model, {"x": x0}, jax.random.PRNGKey(SEED_LOSS)))


def _run_classifier_loss(probs: Problems, prefix: str, process_name: str,
                         loss_fn: Callable) -> Arrays:
    """The noisy-classifier loss of the exact class posterior log p_t(k | x_t)."""
    import jax
    import jax.numpy as jnp
    p = process(process_name)
    x0, comp = probs.data

    def logits_fn(x_t, t):
        return jnp.log(probs.mixture.responsibilities(x_t, t, p))

    return _loss_entries(prefix, loss_fn(logits_fn, {"x": x0, "label": comp},
                                         jax.random.PRNGKey(SEED_LOSS)))


def _run_linear_grad(probs: Problems, prefix: str, kind: str, process_name: str) -> Arrays:
    """Loss and gradient of dsm (uniform weighting and time) for a fixed linear model
    ``x W + t b`` (seeded W, b): the differentiated path of the losses."""
    import jax
    import jax.numpy as jnp
    from diffax.losses import get_loss
    p = process(process_name)
    loss_fn = get_loss("dsm", p, kind=kind)
    k_w, k_b = jax.random.split(jax.random.PRNGKey(5))
    params = {"w": 0.5 * jax.random.normal(k_w, (2, 2), jnp.float64),
              "b": jax.random.normal(k_b, (2,), jnp.float64)}
    x0, _ = probs.data

    def loss(params):
        model = lambda x, t: x @ params["w"] + t[:, None] * params["b"]  # noqa: E731
        return loss_fn(model, {"x": x0}, jax.random.PRNGKey(SEED_LOSS))[0]

    value, grads = _np(jax.value_and_grad(loss)(params))
    return {f"{prefix}/value": np.asarray(value), f"{prefix}/grad/w": grads["w"],
            f"{prefix}/grad/b": grads["b"]}


def loss_cases(probs: Problems, skipped: list[dict]) -> list[Case]:
    """Every loss of ``diffax.losses`` on every process it accepts (a ValueError when
    built: listed in ``skipped``), and the dsm gradients of a linear model."""
    from diffax import losses
    from diffax.predictions import KINDS
    cases = []

    def add(prefix: str, build: Callable[[], Callable],
            runner: Callable[[Callable], Arrays]) -> None:
        try:
            loss_fn = build()
        except ValueError as err:  # the loss refuses this process: not supported
            skipped.append({"case": prefix, "reason": str(err)[:200]})
            return
        cases.append(Case(prefix, functools.partial(runner, loss_fn)))

    for kind in KINDS:
        for weighting in losses.WEIGHTINGS:
            for ts in losses.TIME_SAMPLERS:
                for pname in process_names():
                    prefix = f"loss/dsm/{kind}/{weighting}/{ts}/{pname}"
                    add(prefix, functools.partial(losses.get_loss, "dsm", process(pname),
                                                  kind=kind, weighting=weighting,
                                                  time_sampling=ts),
                        functools.partial(_run_loss, probs, prefix, kind, pname))
    for pname in process_names():
        prefix = f"loss/edm/{pname}"
        add(prefix, functools.partial(losses.get_loss, "edm", process(pname)),
            functools.partial(_run_loss, probs, prefix, "x0", pname))
        prefix = f"loss/ddpm_simple/{pname}"
        add(prefix, functools.partial(losses.get_loss, "ddpm_simple", process(pname)),
            functools.partial(_run_loss, probs, prefix, "eps", pname))
        for ts in losses.TIME_SAMPLERS:
            prefix = f"loss/flow_matching/{ts}/{pname}"
            add(prefix, functools.partial(losses.get_loss, "flow_matching", process(pname),
                                          time_sampling=ts),
                functools.partial(_run_loss, probs, prefix, "velocity", pname))
            prefix = f"loss/noisy_classifier/{ts}/{pname}"
            add(prefix, functools.partial(losses.noisy_classifier_loss, process(pname),
                                          time_sampling=ts),
                functools.partial(_run_classifier_loss, probs, prefix, pname))
        for kind in KINDS:
            prefix = f"loss/dsm_linear_grad/{kind}/{pname}"
            cases.append(Case(prefix, functools.partial(_run_linear_grad, probs, prefix, kind,
                                                        pname)))
    names = set(losses.LOSSES)
    missing = names - {"dsm", "edm", "ddpm_simple", "flow_matching"}
    if missing:  # a loss registered after this script was written must be added here
        raise ValueError(f"golden_outputs: losses {sorted(missing)} are registered in "
                         f"diffax.losses.LOSSES but not recorded; add them to loss_cases.")
    return cases



# ---- likelihoods ------------------------------------------------------------------------

_LIK_FIELDS = ("log_prob", "prior_log_prob", "delta_log_prob", "z", "num_steps")
_ELBO_FIELDS = ("elbo", "reconstruction", "prior_kl", "diffusion_loss")


def _pf_ode(probs: Problems, prefix: str, pname: str, **kw: Any) -> Arrays:
    import jax
    from diffax.likelihood import bits_per_dim, pf_ode_log_likelihood
    p = process(pname)
    model = probs.mixture.model_fn("eps", p)
    x0, _ = probs.data
    res = jax.jit(lambda x, key: pf_ode_log_likelihood(model, p, x, key=key, **kw))(
        x0, jax.random.PRNGKey(SEED_LOSS))
    out = _fields(prefix, res, _LIK_FIELDS)
    out[f"{prefix}/bits_per_dim"] = np.asarray(bits_per_dim(res.log_prob, 2))
    return out


def _image_bpd(probs: Problems, prefix: str) -> Arrays:
    """Dequantized bits/dim of 2 x 2 x 1 integer images under a 4-D mixture model."""
    import jax
    from diffax.likelihood import dequantize, image_bits_per_dim
    p = process("vp_linear")
    flat = probs.image_mixture.model_fn("eps", p)

    def model(x, t):
        return flat(x.reshape(x.shape[0], -1), t).reshape(x.shape)

    images = jax.random.randint(jax.random.PRNGKey(3), (BATCH, 2, 2, 1), 0, 256).astype("uint8")
    key = jax.random.PRNGKey(SEED_LOSS)
    bpd = jax.jit(lambda im, k: image_bits_per_dim(model, p, im, k, n_dequant=2))(images, key)
    return {f"{prefix}/bits_per_dim": np.asarray(bpd),
            f"{prefix}/dequantized": np.asarray(dequantize(key, images))}


def _elbo(probs: Problems, prefix: str, which: str, pname: str, **kw: Any) -> Arrays:
    import jax
    from diffax.likelihood import continuous_elbo, discrete_elbo
    p = process(pname)
    model = probs.mixture.model_fn("eps", p)
    x0, _ = probs.data
    fn = continuous_elbo if which == "continuous" else discrete_elbo
    res = jax.jit(lambda x, key: fn(model, p, x, key, **kw))(x0, jax.random.PRNGKey(SEED_LOSS))
    return _fields(prefix, res, _ELBO_FIELDS)


def _ito(probs: Problems, prefix: str, steps: int) -> Arrays:
    import jax
    from diffax.likelihood import ito_log_density
    from diffax.samplers import schedules
    p = process("vp_linear")
    model = probs.mixture.model_fn("eps", p)
    ts = schedules.uniform_log_snr(p, steps)
    out = jax.jit(lambda x, key: ito_log_density(model, p, x, ts, key=key))(
        probs.prior("vp_linear"), jax.random.PRNGKey(SEED_SAMPLER))
    entries = _fields(prefix, out, ("x", "log_density", "log_density_trajectory"))
    entries[f"{prefix}/nfe"] = np.asarray(int(out.nfe), np.int64)
    return entries


def likelihood_cases(probs: Problems) -> list[Case]:
    cases = []
    for pname in ("vp_linear", "edm", "rectified_flow"):
        prefix = f"likelihood/pf_ode/exact/{pname}"
        cases.append(Case(prefix, functools.partial(_pf_ode, probs, prefix, pname)))
    for probe in ("rademacher", "gaussian"):
        prefix = f"likelihood/pf_ode/hutchinson_{probe}/vp_linear"
        cases.append(Case(prefix, functools.partial(_pf_ode, probs, prefix, "vp_linear",
                                                    divergence="hutchinson", probe=probe,
                                                    n_probes=2)))
    prefix = "likelihood/image_bits_per_dim/vp_linear"
    cases.append(Case(prefix, functools.partial(_image_bpd, probs, prefix)))
    for ts in ("log_snr", "t"):
        for pname in ("vp_linear", "edm"):
            prefix = f"likelihood/continuous_elbo/{ts}/{pname}"
            cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "continuous",
                                                        pname, n_time=16, n_eps=2,
                                                        time_sampling=ts)))
    prefix = "likelihood/discrete_elbo/ddpm_discrete/all_terms"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete",
                                                "ddpm_discrete")))
    prefix = "likelihood/discrete_elbo/ddpm_discrete/n_terms32"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete",
                                                "ddpm_discrete", n_terms=32)))
    p = process("vp_linear")
    grid = tuple(np.linspace(p.t_min, p.t_max, 51))
    prefix = "likelihood/discrete_elbo/vp_linear/grid50"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete", "vp_linear",
                                                timesteps=np.asarray(grid), n_eps=2)))
    prefix = "likelihood/ito/vp_linear/steps50"
    cases.append(Case(prefix, functools.partial(_ito, probs, prefix, 50)))
    return cases


# ---- inverse problems -------------------------------------------------------------------

def _inverse(probs: Problems, prefix: str, method: str, task: str) -> Arrays:
    import jax
    import jax.numpy as jnp
    from diffax.inverse import get_solver, initial_state
    from diffax.samplers import schedules
    p = process("vp_linear")
    model = probs.inverse_prior.model_fn("eps", p)
    op, y = probs.inverse_task(task)
    ts = schedules.uniform_log_snr(p, INVERSE_STEPS)
    x_T = p.prior_sample(jax.random.PRNGKey(5), (BATCH, INVERSE_DIM), jnp.float64)
    x0 = initial_state(method, x_T)  # RED-diff: 0.1 x_T, as benchmarks/inverse.py
    solver, kw = get_solver(method), INVERSE_METHODS[method]
    out = jax.jit(lambda x, k: solver(model, p, x, ts, operator=op, y=y, key=k, **kw))(
        x0, jax.random.PRNGKey(SEED_SAMPLER))
    return {f"{prefix}/x": np.asarray(jax.device_get(out.x)),
            f"{prefix}/nfe": np.asarray(int(out.nfe), np.int64)}


def _guidance(probs: Problems, name: str, task: str):
    """The guidance wrapper ``name`` of diffax.inverse on the inverse task ``task``."""
    from diffax import inverse
    p = process("vp_linear")
    op, y = probs.inverse_task(task)
    model = probs.inverse_prior.model_fn("eps", p)
    if name == "pigdm_guidance":
        return inverse.pigdm_guidance(model, p, op, y, noise_std=INVERSE_SIGMA_Y,
                                      prior_variance=0.16)
    if name == "dps_guidance":
        return inverse.dps_guidance(model, p, op, y, scale=3.0)
    return inverse.steered_guidance(model, p, y, operator=op, scale=10.0)


def _guided(probs: Problems, prefix: str, guidance: str, sampler_name: str,
            task: str) -> Arrays:
    import jax
    import jax.numpy as jnp
    from diffax.samplers import get_sampler, schedules
    p = process("vp_linear")
    model = _guidance(probs, guidance, task)
    ts = schedules.uniform_log_snr(p, INVERSE_STEPS)
    x_T = p.prior_sample(jax.random.PRNGKey(5), (BATCH, INVERSE_DIM), jnp.float64)
    out = jax.jit(lambda x: get_sampler(sampler_name)(model, p, x, ts))(x_T)
    return {f"{prefix}/x": np.asarray(jax.device_get(out.x)),
            f"{prefix}/nfe": np.asarray(int(out.nfe), np.int64)}


def inverse_cases(probs: Problems) -> list[Case]:
    from diffax.inverse import SOLVERS
    unknown = set(SOLVERS) - set(INVERSE_METHODS)
    if unknown:
        raise ValueError(f"golden_outputs: inverse solvers {sorted(unknown)} are registered "
                         "but have no options in INVERSE_METHODS; add them.")
    cases = []
    for task in ("inpaint", "projection"):
        for method in INVERSE_METHODS:
            prefix = f"inverse/{method}/{task}/steps{INVERSE_STEPS}"
            cases.append(Case(prefix, functools.partial(_inverse, probs, prefix, method, task)))
        for guidance in GUIDANCE:
            for name in GUIDANCE_SAMPLERS:
                prefix = f"inverse/{guidance}/{name}/{task}/steps{INVERSE_STEPS}"
                cases.append(Case(prefix, functools.partial(_guided, probs, prefix, guidance,
                                                            name, task)))
    return cases


# ---- training ---------------------------------------------------------------------------

def _path_name(path: tuple) -> str:
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _flatten(prefix: str, tree: Any) -> Arrays:
    import jax
    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]
    out = {}
    for path, leaf in leaves:
        name = f"{prefix}/{_path_name(path)}"
        if name.endswith("/value"):  # an nnx Variable's array: named after its variable
            name = name[:-len("/value")]
        if name in out:
            raise ValueError(f"golden_outputs: two parameters flatten to {name!r}.")
        out[name] = np.asarray(leaf)
    return out


def _train(prefix: str, config_path: str) -> Arrays:
    """Train ``config_path`` for TRAIN_STEPS steps (no sample grids) into a temporary
    workdir and read the final checkpoint back through ``runner.restore``."""
    from diffax import training
    from experiments import runner
    config = runner.load_config(config_path)
    config.training.n_steps = TRAIN_STEPS
    config.training.sample_every = 0
    config.training.progress = False
    with tempfile.TemporaryDirectory(prefix="golden-train-") as workdir:
        runner.train(config, workdir)
        _, _, state = runner.restore(config, workdir)
        records = training.read_metrics(workdir)
    out = {f"{prefix}/step": np.asarray(int(state.step), np.int64),
           f"{prefix}/final_logged_loss": np.asarray(records[-1]["loss"], np.float64)}
    out.update(_flatten(f"{prefix}/params", state.params))
    out.update(_flatten(f"{prefix}/ema", state.ema))
    return out


def train_cases() -> list[Case]:
    return [Case(f"train/{name}", functools.partial(_train, f"train/{name}", path), x64=False)
            for name, path in TRAIN_CONFIGS.items()]


# ---- recording --------------------------------------------------------------------------

def all_cases(probs: Problems | None = None, skipped: list[dict] | None = None) -> list[Case]:
    """Every computation of a full recording, in group order."""
    probs = Problems() if probs is None else probs
    skipped = [] if skipped is None else skipped
    return (sampler_cases(probs) + schedule_cases(skipped) + loss_cases(probs, skipped)
            + likelihood_cases(probs) + inverse_cases(probs) + train_cases())


@contextlib.contextmanager
def x64_enabled(enabled: bool):
    """``jax_enable_x64`` set to ``enabled`` inside, restored after."""
    import jax
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu() -> dict:
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines
                      if ln.startswith("model name")), model)
        flag_line = next((ln.split(":", 1)[1].split() for ln in lines
                          if ln.startswith("flags")), [])
        flags = sorted(f for f in flag_line if f.startswith(("avx", "fma", "sse4")))
    except OSError:
        pass
    return {"cpu_model": model, "cpu_simd_flags": flags, "cpu_count": os.cpu_count()}


def environment() -> dict:
    """Versions, machine, commit and date: what a recording depends on."""
    import jax
    import jaxlib
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": jax.devices()[0].platform,
            "device_kind": jax.devices()[0].device_kind, "device_count": jax.device_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), **_cpu(),
            "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty_files": dirty.splitlines() if dirty else [],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def compute(patterns: Sequence[str] | None = None, *, strict: bool = True,
            verbose: bool = False) -> tuple[Arrays, dict]:
    """Compute the entries selected by ``patterns`` (None: all).

    Returns ``(entries, meta)``. With ``strict`` a failing computation raises (naming
    the case); otherwise it is listed in ``meta["errors"]`` and its entries are absent.
    """
    skipped: list[dict] = []
    with x64_enabled(True):
        probs = Problems()
        cases = all_cases(probs, skipped)
        selected = select_cases(cases, patterns)
        entries: Arrays = {}
        errors: list[dict] = []
        group_wall: dict[str, float] = {}
        for case in selected:
            t0 = time.perf_counter()
            try:
                with x64_enabled(case.x64):
                    out = case.run()
            except Exception as err:  # noqa: BLE001 - reported with the case's name
                if strict:
                    raise RuntimeError(f"golden_outputs: computing {case.prefix!r} failed: "
                                       f"{type(err).__name__}: {err}") from err
                errors.append({"case": case.prefix, "error": f"{type(err).__name__}: {err}"[:500]})
                out = {}
            for name, value in out.items():
                if not name.startswith(case.prefix + "/"):
                    raise ValueError(f"golden_outputs: case {case.prefix!r} returned entry "
                                     f"{name!r} outside its prefix.")
                if name in entries:
                    raise ValueError(f"golden_outputs: entry {name!r} computed twice.")
                if entry_selected(name, patterns):
                    entries[name] = value
            wall = time.perf_counter() - t0
            group_wall[case.group] = group_wall.get(case.group, 0.0) + wall
            if verbose:
                print(f"  {case.prefix}: {len(out)} entries, {wall:.2f} s", flush=True)
        check_patterns_matched(entries, patterns, cases)
        meta = {"format_version": FORMAT_VERSION, **environment(), "x64": True,
                "train_dtype": "float32 (x64 off, as the runner runs by default)",
                "only": list(patterns or []),
                "settings": {"batch": BATCH, "nfe_budgets": list(NFE_BUDGETS),
                             "nfe_budgets_for": {k: list(v) for k, v in NFE_BUDGETS_FOR.items()},
                             "seeds": {"prior": SEED_PRIOR, "sampler": SEED_SAMPLER,
                                       "data": SEED_DATA, "loss": SEED_LOSS},
                             "sampler_problem": "2-D 3-component mixture, VPLinear, exact eps "
                                                "model, uniform_log_snr grid",
                             "train_steps": TRAIN_STEPS, "train_configs": TRAIN_CONFIGS,
                             "inverse": {"dim": INVERSE_DIM, "sigma_y": INVERSE_SIGMA_Y,
                                         "steps": INVERSE_STEPS, "methods": INVERSE_METHODS}},
                "skipped": [s for s in skipped if case_selected(s["case"], patterns)],
                "errors": errors,
                "group_wall_s": {g: round(w, 2) for g, w in group_wall.items()},
                "group_entries": _group_counts(entries)}
    return entries, meta


def _group_counts(names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in names:
        g = n.split("/", 1)[0]
        counts[g] = counts.get(g, 0) + 1
    return counts


def save(path: str, entries: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``entries`` and the JSON ``meta`` to the ``.npz`` file ``path``."""
    if META_KEY in entries:
        raise ValueError(f"save: {META_KEY!r} is reserved for the metadata.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {k: entries[k] for k in sorted(entries)}
    payload[META_KEY] = np.asarray(json.dumps(meta, sort_keys=True))
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **payload)
    os.replace(tmp, path)


def load(path: str) -> tuple[Arrays, dict]:
    """``(entries, meta)`` of a file written by :func:`save`."""
    if not os.path.exists(path):
        raise ValueError(f"golden file {path!r} does not exist; record one with "
                         f"'python -m benchmarks.golden_outputs record --out {path}'.")
    with np.load(path, allow_pickle=False) as f:
        if META_KEY not in f.files:
            raise ValueError(f"{path!r} has no {META_KEY!r} entry: not a golden-outputs file.")
        meta = json.loads(str(f[META_KEY]))
        entries = {k: f[k] for k in f.files if k != META_KEY}
    return entries, meta


# ---- comparing --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Row:
    """One compared entry: max abs / rel difference (NaN if not comparable) and status."""

    name: str
    abs_diff: float
    rel_diff: float
    status: str  # identical | within_rtol | FAIL | MISSING | NEW
    note: str = ""


STATUSES = ("identical", "within_rtol", "FAIL", "MISSING", "NEW")


def compare_arrays(name: str, golden: np.ndarray, new: np.ndarray, rtol: float,
                   atol: float = 0.0) -> Row:
    """Compare one entry. Bitwise equal (same dtype, shape and bytes) is ``identical``;
    otherwise each element must satisfy ``|new - golden| <= max(rtol * max(|golden|,
    tiny), atol)`` with NaN and infinities in the same places."""
    golden, new = np.asarray(golden), np.asarray(new)
    if golden.dtype != new.dtype:
        return Row(name, math.nan, math.nan, "FAIL", f"dtype {golden.dtype} -> {new.dtype}")
    if golden.shape != new.shape:
        return Row(name, math.nan, math.nan, "FAIL", f"shape {golden.shape} -> {new.shape}")
    if golden.tobytes() == new.tobytes():
        return Row(name, 0.0, 0.0, "identical")
    if not (np.issubdtype(golden.dtype, np.number) or golden.dtype == bool):
        return Row(name, math.nan, math.nan, "FAIL", "non-numeric values differ")
    g = golden.astype(np.float64) if golden.dtype != np.float64 else golden
    n = new.astype(np.float64) if new.dtype != np.float64 else new
    tiny = (np.finfo(golden.dtype).tiny if np.issubdtype(golden.dtype, np.floating)
            else np.finfo(np.float64).tiny)
    g_nan, n_nan = np.isnan(g), np.isnan(n)
    if np.any(g_nan != n_nan):
        return Row(name, math.nan, math.nan, "FAIL", "NaNs in other places")
    g_inf, n_inf = np.isinf(g), np.isinf(n)
    if np.any(g_inf != n_inf) or np.any(g[g_inf] != n[g_inf]):
        return Row(name, math.inf, math.inf, "FAIL", "infinities differ")
    finite = np.isfinite(g)
    diff = np.abs(n[finite] - g[finite])
    rel = diff / np.maximum(np.abs(g[finite]), tiny)
    abs_max = float(diff.max()) if diff.size else 0.0
    rel_max = float(rel.max()) if rel.size else 0.0
    within = np.all((diff <= atol) | (rel <= rtol))
    return Row(name, abs_max, rel_max, "within_rtol" if within else "FAIL")


def compare_entries(golden: Mapping[str, np.ndarray], new: Mapping[str, np.ndarray],
                    rtol: float, atol: float = 0.0,
                    errors: Mapping[str, str] | None = None) -> list[Row]:
    """One :class:`Row` per entry in either mapping, sorted by name. ``errors`` maps case
    prefixes that failed to compute to their error, noted on their missing entries."""
    rows = []
    for name in sorted(set(golden) | set(new)):
        if name not in new:
            note = next((f"computation failed: {e}" for p, e in (errors or {}).items()
                         if name.startswith(p + "/")), "not computed by this tree")
            rows.append(Row(name, math.nan, math.nan, "MISSING", note))
        elif name not in golden:
            rows.append(Row(name, math.nan, math.nan, "NEW", "not in the golden file"))
        else:
            rows.append(compare_arrays(name, golden[name], new[name], rtol, atol))
    return rows


def format_table(rows: Sequence[Row], show: str = "all") -> str:
    """The comparison table; ``show`` is "all", "differing" (not identical) or "failing"."""
    keep = {"all": STATUSES, "differing": STATUSES[1:], "failing": STATUSES[2:]}[show]
    shown = [r for r in rows if r.status in keep]
    width = max([len("entry")] + [len(r.name) for r in shown])
    lines = [f"{'entry':<{width}}  {'max abs diff':>12}  {'max rel diff':>12}  status"]
    for r in shown:
        a = "-" if math.isnan(r.abs_diff) else f"{r.abs_diff:.3e}"
        b = "-" if math.isnan(r.rel_diff) else f"{r.rel_diff:.3e}"
        lines.append(f"{r.name:<{width}}  {a:>12}  {b:>12}  {r.status}"
                     + (f"  ({r.note})" if r.note else ""))
    return "\n".join(lines)


def summarize(rows: Sequence[Row], rtol: float) -> tuple[str, bool]:
    """The counts line and whether the comparison passed."""
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    ok = counts["FAIL"] == counts["MISSING"] == counts["NEW"] == 0
    text = (f"{len(rows)} entries: {counts['identical']} identical bitwise, "
            f"{counts['within_rtol']} within rtol={rtol:g} (not bitwise), {counts['FAIL']} "
            f"failing, {counts['MISSING']} missing, {counts['NEW']} new -> "
            + ("PASS" if ok else "FAIL"))
    return text, ok


def _environment_notes(golden_meta: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    keys = ("jax", "jaxlib", "cpu_model", "cpu_simd_flags", "device_count", "platform",
            "xla_flags")
    return [f"note: {k} differs from the recording ({golden_meta.get(k)!r} -> {now.get(k)!r}); "
            "goldens are machine-specific, expect ulp-level differences"
            for k in keys if golden_meta.get(k) != now.get(k)]


# ---- command line -----------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.golden_outputs",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    only_help = ("shell pattern on entry names (repeatable), e.g. 'sampler/ddim/*'; "
                 "default: everything (compare: the golden file's own --only)")
    r = sub.add_parser("record", help="compute the golden entries and write them")
    r.add_argument("--out", required=True, help="the .npz file to write")
    r.add_argument("--only", action="append", help=only_help)
    r.add_argument("--verbose", action="store_true", help="one line per computation")
    c = sub.add_parser("compare", help="recompute (or read --against) and compare")
    c.add_argument("golden", help="a .npz file written by record")
    c.add_argument("--only", action="append", help=only_help)
    c.add_argument("--rtol", type=float, default=1e-12,
                   help="relative tolerance on max(|golden|, tiny) (default 1e-12)")
    c.add_argument("--atol", type=float, default=0.0,
                   help="absolute tolerance accepted besides rtol (default 0)")
    c.add_argument("--against", help="compare with this recorded file instead of computing")
    c.add_argument("--show", choices=("all", "differing", "failing"), default="all",
                   help="which rows the table prints (default all)")
    c.add_argument("--verbose", action="store_true", help="one line per computation")
    ls = sub.add_parser("list", help="list the computations (entry prefixes), run nothing")
    ls.add_argument("--only", action="append", help=only_help)
    return p


def _record(args) -> int:
    t0 = time.perf_counter()
    entries, meta = compute(args.only, strict=True, verbose=args.verbose)
    meta["record_wall_s"] = round(time.perf_counter() - t0, 1)
    save(args.out, entries, meta)
    print(f"wrote {len(entries)} entries to {args.out} in {meta['record_wall_s']} s")
    for g, n in meta["group_entries"].items():
        print(f"  {g:<16} {n:6d} entries  {meta['group_wall_s'].get(g, 0.0):7.1f} s")
    if meta["skipped"]:
        print(f"  skipped {len(meta['skipped'])} unsupported combinations (listed in the "
              "metadata)")
    return 0


def _compare(args) -> int:
    if not (args.rtol >= 0 and args.atol >= 0):
        raise ValueError(f"--rtol and --atol must be >= 0, got {args.rtol}, {args.atol}.")
    golden, gmeta = load(args.golden)
    patterns = args.only if args.only is not None else (gmeta.get("only") or None)
    if args.only is None and patterns:
        print(f"using the golden file's --only {patterns}")
    t0 = time.perf_counter()
    errors: dict[str, str] = {}
    if args.against:
        new, nmeta = load(args.against)
        new = {k: v for k, v in new.items() if entry_selected(k, patterns)}
        cases = all_cases_for_help()
        check_patterns_matched(list(new) + list(golden), patterns, cases)
    else:
        new, nmeta = compute(patterns, strict=False, verbose=args.verbose)
        errors = {e["case"]: e["error"] for e in nmeta["errors"]}
    golden = {k: v for k, v in golden.items() if entry_selected(k, patterns)}
    rows = compare_entries(golden, new, args.rtol, args.atol, errors)
    print(format_table(rows, args.show))
    for note in _environment_notes(gmeta, nmeta):
        print(note)
    for prefix, err in errors.items():
        print(f"error computing {prefix}: {err}")
    text, ok = summarize(rows, args.rtol)
    print(text + f" (compare took {time.perf_counter() - t0:.1f} s)")
    if not ok:
        bad = [f"{r.name} [{r.status}]" for r in rows if r.status in ("FAIL", "MISSING", "NEW")]
        print("not matching: " + ", ".join(bad[:50]) + (" ..." if len(bad) > 50 else ""))
    return 0 if ok else 1


def all_cases_for_help() -> list[Case]:
    """The case list (no computation), for pattern checks and error messages."""
    with x64_enabled(True):
        return all_cases()


def _list(args) -> int:
    cases = select_cases(all_cases_for_help(), args.only)
    for c in cases:
        print(c.prefix + ("" if c.x64 else "  (float32)"))
    counts = _group_counts(c.prefix for c in cases)
    print(f"{len(cases)} computations: " + ", ".join(f"{g} {n}" for g, n in counts.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 mismatch, 2 error)."""
    args = _parser().parse_args(argv)
    try:
        return {"record": _record, "compare": _compare, "list": _list}[args.mode](args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
