"""experiments.config_checks.validate_config, one case per check that no other test reaches
(test_runner, test_placement, test_profile_option and test_cifar_recipes cover the rest):
every error names the dotted field, the bad value and what is allowed."""

import re

import pytest

from configs.toy import gmm2d
from diffax import parameterization, training
from diffax.samplers import SAMPLERS, schedules
from experiments.config_checks import COMPUTE_DTYPES, validate_config
from experiments.evaluation import FEATURES, METRICS
from experiments.tasks import TASKS


def config(**fields):
    c = gmm2d.get_config()
    for field, value in fields.items():
        section, key = field.split("__")
        c[section][key] = value
    return c


def named(field, value, allowed):
    """The message of _fail, with ``allowed`` a literal piece of the explanation."""
    return rf"config\.{re.escape(field)}={re.escape(repr(value))} is invalid: .*" \
        + re.escape(allowed)


CASES = [
    # positive integers (n_steps is covered through the runner)
    ("sampling__grid_size", 0, named("sampling.grid_size", 0, "expected a positive integer")),
    ("eval__num_batches", True, named("eval.num_batches", True, "expected a positive integer")),
    ("data__batch_size", -8, named("data.batch_size", -8, "expected a positive integer")),
    # NaN anywhere, also inside a tuple
    ("eval__likelihood_rtol", float("nan"),
     named("eval.likelihood_rtol", float("nan"), "NaN is not a valid setting")),
    ("eval__guidance_scales", (1.0, float("nan")),
     named("eval.guidance_scales[1]", float("nan"), "NaN is not a valid setting")),
    ("optim__weight_decay", -0.1,
     named("optim.weight_decay", -0.1, "expected a finite number >= 0 (0 disables it)")),
    ("task__name", "audio", named("task.name", "audio", f"choose one of {sorted(TASKS)}")),
    ("training__compute_dtype", "float16",
     named("training.compute_dtype", "float16", f"choose one of {list(COMPUTE_DTYPES)}")),
    ("training__nonfinite", "ignore", named("training.nonfinite", "ignore",
                                            f"choose one of {list(training.NONFINITE_POLICIES)}")),
    ("training__label_dropout", 1.0,
     named("training.label_dropout", 1.0, "expected a probability in [0, 1)")),
    ("training__label_dropout", -0.1,
     named("training.label_dropout", -0.1, "expected a probability in [0, 1)")),
    ("training__sample_every", -1,
     named("training.sample_every", -1, "expected >= 0 (0 disables grids)")),
    ("model__parameterization", "noise", named(
        "model.parameterization", "noise",
        f"choose one of {list(parameterization.PARAMETERIZATIONS)}")),
    ("model__time_input", "sigma", named(
        "model.time_input", "sigma", f"choose one of {list(parameterization.TIME_INPUTS)}")),
    ("sampling__sampler", "nope", named("sampling.sampler", "nope",
                                        f"choose one of {sorted(SAMPLERS)}")),
    ("eval__samplers", ("euler", "nope"),
     named("eval.samplers[1]", "nope", f"choose one of {sorted(SAMPLERS)}")),
    ("sampling__schedule", "linear", named("sampling.schedule", "linear",
                                           f"choose one of {sorted(schedules.SCHEDULES)}")),
    ("sampling__params", "last",
     named("sampling.params", "last", "use 'ema', 'params' or 'ema_<decay>'")),
    ("eval__nfes", (10, 0), named("eval.nfes", (10, 0), "expected positive integers")),
    ("eval__metrics", ("sliced_w2", "fid"),
     named("eval.metrics", ("sliced_w2", "fid"), f"unknown ['fid']; choose from {list(METRICS)}")),
    ("eval__guidance_scales", (1.0, -2.0),
     named("eval.guidance_scales", (1.0, -2.0), "expected non-negative numbers")),
    ("eval__features", "clip", named("eval.features", "clip",
                                     f"choose one of {list(FEATURES)}")),
    ("eval__likelihood_divergence", "trace", named(
        "eval.likelihood_divergence", "trace", "choose one of ['auto', 'exact', 'hutchinson']")),
    ("eval__likelihood_num_examples", -1,
     named("eval.likelihood_num_examples", -1, "expected >= 0")),
    ("eval__likelihood_rtol", 0.0, named("eval.likelihood_rtol", 0.0, "expected > 0")),
]


def test_the_toy_config_is_valid():
    validate_config(config())  # so each case below fails for its own field only


@pytest.mark.parametrize("field,value,match", CASES,
                         ids=[f"{f.replace('__', '.')}={v!r}" for f, v, _ in CASES])
def test_each_check_names_field_value_and_choices(field, value, match):
    with pytest.raises(ValueError, match=match):
        validate_config(config(**{field: value}))


def test_missing_sections_are_listed():
    c = config()
    del c["eval"]
    del c["optim"]
    with pytest.raises(ValueError, match=re.escape("missing sections ['optim', 'eval']")
                       + ".*configs/image/defaults.py"):
        validate_config(c)


@pytest.mark.parametrize("weights,match", [
    ("", "needs a local .npz"), ("/nonexistent/inception.npz", "no such file; convert")])
def test_inception_features_need_an_existing_weights_file(weights, match):
    c = config(eval__features="inception_v3", eval__inception_weights=weights)
    with pytest.raises(ValueError, match=named("eval.inception_weights", weights, match)):
        validate_config(c)
