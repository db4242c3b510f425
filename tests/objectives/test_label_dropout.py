"""Label dropout for classifier-free guidance, as a batch transform."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.objectives import drop_labels, label_dropout


def test_label_dropout_rate_and_null_value():
    labels = jnp.arange(20000) % 10
    out = drop_labels({"label": labels}, jax.random.PRNGKey(0), 0.2, null_label=10)["label"]
    dropped = np.asarray(out == 10)
    # 4 binomial standard deviations of the dropped fraction
    assert abs(dropped.mean() - 0.2) < 4 * np.sqrt(0.2 * 0.8 / 20000)
    np.testing.assert_array_equal(np.asarray(out)[~dropped], np.asarray(labels)[~dropped])
    same = drop_labels({"label": labels}, jax.random.PRNGKey(0), 0.0, null_label=10)
    np.testing.assert_array_equal(same["label"], labels)


def test_transform_factory():
    assert label_dropout(0.0, None) is None  # no transform at all
    t = label_dropout(0.5, 3)
    out = t({"x": jnp.zeros(4), "label": jnp.zeros(4, jnp.int32)}, jax.random.PRNGKey(1))
    assert set(np.unique(np.asarray(out["label"]))) <= {0, 3}
    with pytest.raises(ValueError, match="needs null_label"):
        label_dropout(0.1, None)
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\), got 1.0"):
        label_dropout(1.0, 3)
