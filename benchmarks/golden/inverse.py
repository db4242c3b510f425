"""Golden group ``inverse``: the inverse-problem solvers of :mod:`diffax.inverse`
(replacement, RePaint, DPS, PiGDM, RED-diff, steered) and its PiGDM, DPS and steered
guidance wrappers with three samplers, on inpainting and a random projection of an
8-D Gaussian-mixture prior."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from benchmarks.golden.common import BATCH, SEED_SAMPLER, Arrays, Case, process

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
TASKS = ("inpaint", "projection")


class InverseProblems:
    """The fixed float64 prior and measurement tasks, built on first use (create one
    per recording, with x64 on)."""

    @functools.cached_property
    def prior(self) -> Any:
        """An 8-D isotropic mixture of three Gaussians (seeded)."""
        from diffax.analytic import GaussianMixture
        rng = np.random.default_rng(0)
        return GaussianMixture.isotropic([0.3, 0.3, 0.4],
                                         rng.normal(size=(3, INVERSE_DIM)) * 1.5, 0.4)

    def task(self, task: str) -> tuple[Any, Any]:
        """(operator, y of shape (BATCH, ...)) of the task ``task`` (one of TASKS),
        cached."""
        cache = self.__dict__.setdefault("_tasks", {})
        if task not in cache:
            cache[task] = self._make_task(task)
        return cache[task]

    def _make_task(self, task: str) -> tuple[Any, Any]:
        import jax
        import jax.numpy as jnp
        from diffax.inverse import Mask, RandomProjection
        if task == "inpaint":
            mask = jnp.asarray((np.arange(INVERSE_DIM) < INVERSE_DIM // 2).astype(np.float64))
            op = Mask(mask=mask)
        else:
            op = RandomProjection.create(jax.random.PRNGKey(0), INVERSE_DIM // 2, INVERSE_DIM,
                                         dtype=jnp.float64)
        x_true = self.prior.sample(jax.random.PRNGKey(11), 1)
        y1 = op(x_true) + INVERSE_SIGMA_Y * jax.random.normal(jax.random.PRNGKey(2),
                                                              op(x_true).shape, jnp.float64)
        if task == "inpaint":
            y1 = y1 * mask
        return op, jnp.broadcast_to(y1, (BATCH,) + y1.shape[1:])


def _inverse(probs: InverseProblems, prefix: str, method: str, task: str) -> Arrays:
    """The solver ``method`` (jitted, options INVERSE_METHODS[method]) on ``task``."""
    import jax
    import jax.numpy as jnp
    from diffax.inverse import get_solver, initial_state
    from diffax.samplers import schedules
    p = process("vp_linear")
    model = probs.prior.model_fn("eps", p)
    op, y = probs.task(task)
    ts = schedules.uniform_log_snr(p, INVERSE_STEPS)
    x_T = p.prior_sample(jax.random.PRNGKey(5), (BATCH, INVERSE_DIM), jnp.float64)
    x0 = initial_state(method, x_T)  # RED-diff: 0.1 x_T, as benchmarks/inverse.py
    solver, kw = get_solver(method), INVERSE_METHODS[method]
    out = jax.jit(lambda x, k: solver(model, p, x, ts, operator=op, y=y, key=k, **kw))(
        x0, jax.random.PRNGKey(SEED_SAMPLER))
    return {f"{prefix}/x": np.asarray(jax.device_get(out.x)),
            f"{prefix}/nfe": np.asarray(int(out.nfe), np.int64)}


def _guidance(probs: InverseProblems, name: str, task: str) -> Any:
    """The guidance wrapper ``name`` of diffax.inverse on the inverse task ``task``."""
    from diffax import inverse
    p = process("vp_linear")
    op, y = probs.task(task)
    model = probs.prior.model_fn("eps", p)
    if name == "pigdm_guidance":
        return inverse.pigdm_guidance(model, p, op, y, noise_std=INVERSE_SIGMA_Y,
                                      prior_variance=0.16)
    if name == "dps_guidance":
        return inverse.dps_guidance(model, p, op, y, scale=3.0)
    return inverse.steered_guidance(model, p, y, operator=op, scale=10.0)


def _guided(probs: InverseProblems, prefix: str, guidance: str, sampler_name: str,
            task: str) -> Arrays:
    """Sampler ``sampler_name`` (jitted) on the guided model ``guidance`` of ``task``."""
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


def inverse_cases() -> list[Case]:
    """The cases of the inverse group, in recording order; a solver registered in
    ``diffax.inverse.SOLVERS`` without options in INVERSE_METHODS is a ValueError."""
    from diffax.inverse import SOLVERS
    unknown = set(SOLVERS) - set(INVERSE_METHODS)
    if unknown:
        raise ValueError(f"benchmarks.golden.inverse: inverse solvers {sorted(unknown)} are "
                         "registered but have no options in INVERSE_METHODS; add them.")
    probs = InverseProblems()
    cases = []
    for task in TASKS:
        for method in INVERSE_METHODS:
            prefix = f"inverse/{method}/{task}/steps{INVERSE_STEPS}"
            cases.append(Case(prefix, functools.partial(_inverse, probs, prefix, method, task)))
        for guidance in GUIDANCE:
            for name in GUIDANCE_SAMPLERS:
                prefix = f"inverse/{guidance}/{name}/{task}/steps{INVERSE_STEPS}"
                cases.append(Case(prefix, functools.partial(_guided, probs, prefix, guidance,
                                                            name, task)))
    return cases
