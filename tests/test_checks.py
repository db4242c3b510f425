"""diffax.checks: every check accepts the valid values, normalises them, and refuses the
invalid ones with a message naming where, the argument, the bad value and what is allowed."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import checks


def test_concreteness_helpers():
    assert checks.is_concrete(1.0, np.ones(2), jnp.ones(2))
    assert checks.host_float(np.float64(2.5)) == 2.5 and checks.host_float(3) == 3.0
    assert checks.host_float(jnp.asarray(2.0)) is None  # JAX arrays are never read
    assert checks.host_float("a") is None and checks.host_float(np.ones(2)) is None
    np.testing.assert_array_equal(checks.concrete(jnp.arange(3)), [0, 1, 2])
    assert checks.concrete([[1, 2], [3]]) is None  # ragged
    assert checks.concrete([1, 2], np.float64).dtype == np.float64

    @jax.jit
    def f(x):
        assert not checks.is_concrete(x) and checks.is_concrete(1.0)
        assert checks.concrete(x) is None and checks.host_float(x) is None
        # skip_traced lets a tracer through; increasing() returns it unchecked.
        assert checks.positive("f", "x", x, skip_traced=True) is x
        assert checks.increasing("f", "x", x) is x
        with pytest.raises(ValueError, match="f: x must be finite and > 0, got x=.*Tracer"):
            checks.positive("f", "x", x)
        return x

    f(jnp.ones(()))


def test_choice():
    assert checks.choice("get_loss", "loss", "dsm", {"edm": 1, "dsm": 2}) == "dsm"
    with pytest.raises(ValueError, match=r"^get_loss: unknown loss 'dms'; valid choices: "
                                         r"\['dsm', 'edm'\]\.$"):
        checks.choice("get_loss", "loss", "dms", {"edm": 1, "dsm": 2})  # sorted
    with pytest.raises(ValueError, match=r"valid choices: \['eps', 'x0', 'v'\]"):
        checks.choice("f", "kind", "z", ("eps", "x0", "v"))  # a tuple keeps its order
    with pytest.raises(ValueError, match=r"unknown kind \['eps'\]"):
        checks.choice("f", "kind", ["eps"], {"eps": 1})  # unhashable value
    with pytest.raises(ValueError, match=r"^unknown split 'dev'"):
        checks.choice("", "split", "dev", ("train", "test"))  # no 'where'


def test_boolean():
    assert checks.boolean("ddim", "denoise", np.bool_(True)) is True
    for bad in (1, "False", None, np.ones(1, bool)):
        with pytest.raises(ValueError, match=r"ddim: denoise must be True or False, got "):
            checks.boolean("ddim", "denoise", bad)


def test_integers():
    assert checks.integer("f", "n", np.int64(3), minimum=2) == 3
    assert type(checks.positive_int("f", "n", np.int32(4))) is int
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=rf"^f: n must be an integer >= 1, got n={bad!r}\.$"):
            checks.positive_int("f", "n", bad)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4\], got n=5"):
        checks.integer("f", "n", 5, minimum=1, maximum=4)
    with pytest.raises(ValueError, match=r"n must be an integer <= 4"):
        checks.integer("f", "n", 5, maximum=4)
    with pytest.raises(ValueError, match=r"n must be an integer, got n=1.5"):
        checks.integer("f", "n", 1.5)


def test_real_numbers():
    assert checks.positive("VE", "sigma_min", np.float32(0.5)) == 0.5
    assert checks.positive("VE", "sigma_min", jnp.asarray(2.0)) == 2.0  # 0-d concrete
    assert checks.finite("f", "p_mean", -1) == -1.0
    for bad in (0.0, -1.0, math.inf, math.nan, "1", True, None, np.ones(2)):
        with pytest.raises(ValueError, match=r"^VE: sigma_min must be finite and > 0, got "
                                             r"sigma_min="):
            checks.positive("VE", "sigma_min", bad)
    with pytest.raises(ValueError, match=r"p_mean must be a finite number, got p_mean=inf"):
        checks.finite("f", "p_mean", math.inf)
    assert checks.in_range("f", "x", math.inf, lo=0.0, finite=False) == math.inf
    with pytest.raises(ValueError, match=r"x must be >= 0.0, got x=nan"):
        checks.in_range("f", "x", math.nan, lo=0.0, finite=False)
    with pytest.raises(ValueError, match=r"x must be finite and <= 1, got x=2"):
        checks.in_range("f", "x", 2, hi=1)


def test_probability_ends():
    assert checks.probability("f", "p", 0.0) == 0.0 and checks.probability("f", "p", 1) == 1.0
    with pytest.raises(ValueError, match=r"dropout must be finite and in \[0, 1\), got "
                                         r"dropout=1.0"):
        checks.probability("MLP", "dropout", 1.0, hi_open=True)
    with pytest.raises(ValueError, match=r"level must be finite and in \(0, 1\), got "
                                         r"level=0.0"):
        checks.probability("crps", "level", 0.0, lo_open=True, hi_open=True)


def test_multiple_of():
    assert checks.multiple_of("f", "n", np.int64(16), 8) == 16
    assert checks.multiple_of("f", "n", 0, 8) == 0
    with pytest.raises(ValueError, match=r"^shard_batch: global_batch_size must be an integer "
                                         r"multiple of 8 \(the number of devices in the mesh\), "
                                         r"got global_batch_size=12\.$"):
        checks.multiple_of("shard_batch", "global_batch_size", 12, 8,
                           factor_is="the number of devices in the mesh")
    for bad in (16.0, True, "16"):
        with pytest.raises(ValueError, match=rf"^f: n must be an integer multiple of 2, got "
                                             rf"n={bad!r}\.$"):
            checks.multiple_of("f", "n", bad, 2)


def test_distinct():
    decays = (0.9, 0.99)
    assert checks.distinct("init_ema", "decays", decays) is decays
    assert checks.distinct("f", "names", []) == []
    with pytest.raises(ValueError, match=r"^init_ema: decays must be distinct \(0\.9 occurs more "
                                         r"than once\), got decays=\(0\.9, 0\.99, 0\.9\)\.$"):
        checks.distinct("init_ema", "decays", (0.9, 0.99, 0.9))
    with pytest.raises(ValueError, match=r"names must be distinct \('a' occurs more than once\)"):
        checks.distinct("f", "names", ["a", "b", "a"])


def test_interval():
    assert checks.interval("VPLinear", 1e-3, 1, lo=0.0, hi=1.0) == (1e-3, 1.0)
    msg = r"^VPLinear: need 0.0 <= t_min < t_max <= 1.0, got t_min=0.5, t_max=0.5\.$"
    with pytest.raises(ValueError, match=msg):
        checks.interval("VPLinear", 0.5, 0.5, lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match=r"need 0 < sigma_min < sigma_max <= inf, got "
                                         r"sigma_min=0, sigma_max=1"):
        checks.interval("karras", 0, 1, lo=0, lo_open=True, names=("sigma_min", "sigma_max"))
    with pytest.raises(ValueError, match="got t_min=a"):
        checks.interval("f", "a", 1.0)


def test_increasing():
    ts = np.array([0.1, 0.5, 0.9])
    assert checks.increasing("f", "levels", ts) is ts
    checks.increasing("f", "ts", ts[::-1], decreasing=True)
    checks.increasing("f", "ts", [0.0, 0.0, 1.0], strict=False)
    with pytest.raises(ValueError, match=r"f: ts must be strictly increasing, got ts="):
        checks.increasing("f", "ts", [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"ts must be strictly decreasing"):
        checks.increasing("f", "ts", ts, decreasing=True)
    with pytest.raises(ValueError, match=r"ts must be 1-D, got shape \(1, 3\)"):
        checks.increasing("f", "ts", ts[None])


def test_array_checks():
    x = jnp.zeros((4, 3))
    assert checks.ndim("fd", "features", x, 2, "(n, d)") is x
    with pytest.raises(ValueError, match=r"^fd: features must have shape \(n, d\), got shape "
                                         r"\(4, 3, 1\)\.$"):
        checks.ndim("fd", "features", x[..., None], 2, "(n, d)")
    with pytest.raises(ValueError, match=r"x must have shape 1-D or 2-D, got shape \(\)"):
        checks.ndim("f", "x", 1.0, (1, 2))
    assert checks.shape("f", "w", x, (None, 3)) is x
    with pytest.raises(ValueError, match=r"w must have shape \(\*, 2\), got shape \(4, 3\)"):
        checks.shape("f", "w", x, (None, 2))
    with pytest.raises(ValueError, match=r"w must have shape \(4,\), got shape \(4, 3\)"):
        checks.shape("f", "w", x, (4,))
    assert checks.floating("f", "dtype", jnp.float32) is jnp.float32
    assert checks.floating("f", "x", [1.0, 2.0]) == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"f: x must be floating point, got dtype int32"):
        checks.floating("f", "x", jnp.zeros(2, jnp.int32))
    with pytest.raises(ValueError, match=r"dtype must be floating point, got dtype int8"):
        checks.floating("f", "dtype", "int8")
    assert checks.float_batch("f", "x", np.ones((2, 3)), min_ndim=2).shape == (2, 3)
    for bad in (jnp.ones(3), jnp.ones((2, 3), jnp.int32)):
        with pytest.raises(ValueError, match=r"^f: x must be a float batch \(B, ...\) with at "
                                             r"least 2 axes, got dtype .* and shape \("):
            checks.float_batch("f", "x", bad, min_ndim=2)
