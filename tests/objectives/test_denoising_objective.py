"""The denoising objective: facts stated once (loss kind and sigma_data follow the
parameterization), and the objective reproduces the plain loss of the model it wraps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses, objectives, training
from diffax.parameterization import make_model_fn
from diffax.processes import EDM, VPLinear


def test_kind_is_derived_and_contradictions_are_errors():
    p = VPLinear()
    obj = objectives.get_objective("denoising", p, loss="dsm", parameterization="v")
    assert obj.kind == "v"
    assert objectives.loss_options("dsm", {}, "v", 0.5)["kind"] == "v"
    with pytest.raises(ValueError, match=r"loss.kwargs.kind='eps' contradicts "
                                         r"model.parameterization='v'"):
        objectives.get_objective("denoising", p, loss="dsm", loss_kwargs={"kind": "eps"},
                                 parameterization="v")
    with pytest.raises(ValueError, match=r"loss 'flow_matching' trains a 'velocity' "
                                         r"prediction, but model.parameterization='eps'"):
        objectives.get_objective("denoising", p, loss="flow_matching", parameterization="eps")


def test_sigma_data_is_stated_once():
    opts = objectives.loss_options("edm", {}, "edm", 0.3)
    assert opts["sigma_data"] == 0.3
    with pytest.raises(ValueError, match=r"loss.kwargs.sigma_data=0.5 differs from "
                                         r"model.sigma_data=0.3"):
        objectives.loss_options("edm", {"sigma_data": 0.5}, "edm", 0.3)


def test_unknown_objective_and_option_are_named():
    with pytest.raises(ValueError, match=r"unknown objective 'denoisng' \(did you mean "
                                         r"'denoising'\?\)"):
        objectives.get_objective("denoisng", VPLinear())
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['los'\]"):
        objectives.get_objective("denoising", VPLinear(), los="dsm")


def test_objective_loss_equals_the_loss_of_its_model():
    """objective.loss(net, params, ...) == loss_fn(make_model_fn(net at params), ...):
    the same operations, so equal to rounding (both jitted)."""
    p = EDM()
    obj = objectives.get_objective("denoising", p, loss="edm", parameterization="edm",
                                   sigma_data=0.5)
    w = jnp.array([[0.3, -0.2], [0.1, 0.4]])

    def net(params, x, c, **cond):
        return x @ params + c[:, None]

    batch = {"x": jax.random.normal(jax.random.PRNGKey(0), (64, 2))}
    key = jax.random.PRNGKey(1)
    got = jax.jit(lambda w: obj.loss(net, w, (), batch, key)[0])(w)
    model = make_model_fn(lambda x, c: net(w, x, c), p, "edm", sigma_data=0.5)[0]
    want = jax.jit(lambda: losses.get_loss("edm", p, sigma_data=0.5)(model, batch, key)[0])()
    np.testing.assert_allclose(got, want, rtol=1e-6)  # float32, same ops: a few ulps
    assert obj.init(w) == () and obj.update((), w, 0) == ()


def test_a_non_objective_is_refused_clearly():
    with pytest.raises(TypeError, match=r"is not an objective: it has no \['init', 'loss', "
                                        r"'update'\]"):
        training.check_objective(lambda model, batch, key: 0.0)
