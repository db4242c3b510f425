"""Every config file under configs/ loads and passes validation (a typo in a rarely run
config, e.g. the CIFAR-10 ones that need TFDS data, must fail here, not on a TPU)."""

import pathlib

import pytest

from experiments import runner
from experiments.config_checks import validate_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*/*.py")
                 if p.name not in ("__init__.py", "defaults.py"))


def test_config_files_found():
    assert "configs/image/fashion_mnist_edm.py" in CONFIGS and len(CONFIGS) >= 7


@pytest.mark.parametrize("path", CONFIGS)
def test_config_loads_and_validates(path):
    config = runner.load_config(path)
    validate_config(config)
    assert config.sampling.nfe > 0 and config.training.n_steps > 0


def test_guidance_config_is_class_conditional():
    c = runner.load_config("configs/image/fashion_mnist_edm_cfg.py")
    assert c.model.class_conditional and c.sampling.guidance_scale == 2.0
    assert c.sampling.grid_size % 10 == 0  # one class per grid column


def test_lcm_config_trains_and_samples_on_the_karras_grid():
    """The LCM config's objective options reach the builder through the registry, with the
    Karras training grid and the teacher's network parameterization, and its sampler visits
    that grid (issue 20: on EDM the uniform grid puts one skip over all of sigma < 1.6)."""
    import jax.numpy as jnp
    import numpy as np

    from diffax.objectives import get_objective
    from diffax.samplers.consistency_grid import grid_time
    from diffax.processes import EDM
    from diffax.samplers.schedules import get_schedule

    c = runner.load_config("configs/image/fashion_mnist_lcm.py")
    assert c.objective.kwargs.grid == "karras" and c.sampling.schedule == "karras"
    p = EDM()
    m = c.model  # the shared options the experiment layer passes (objective_setup)
    obj = get_objective(c.objective.name, p, lambda q, x, t: x, **c.objective.kwargs,
                        parameterization=m.parameterization, time_input=m.time_input,
                        sigma_data=m.sigma_data)
    # the student reads the network as the EDM teacher does (its x0 at step 0)
    assert obj.grid == "karras" and obj.parameterization == m.parameterization == "edm"
    t_hi = np.unique(np.asarray(obj.levels(jnp.zeros(2, jnp.uint32), 4096)[0]))
    assert len(t_hi) == 50 and np.sum(t_hi < 1.6) == 22  # of LCM's 50 levels (uniform: 0)
    n = c.sampling.nfe
    np.testing.assert_allclose(get_schedule(c.sampling.schedule, p, n),
                               grid_time(p, 1.0 - jnp.arange(n + 1) / n, "karras"), rtol=1e-5)
