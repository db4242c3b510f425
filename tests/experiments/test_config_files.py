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
