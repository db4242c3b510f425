"""Input preparation of TimeGAN's scores (diffax.metrics.timeseries_windows): the
standardiser and the splits against direct computations, and the errors every score
raises for bad windows, masks, options and labels (through the public scores, which
name themselves in the messages)."""

import jax
import numpy as np
import pytest

from diffax.metrics import (conditional_class_accuracy, discriminative_score,
                            predictive_score)
from diffax.metrics.timeseries_windows import prepare, split, standardiser


def test_standardiser_matches_numpy_on_observed_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5, 3)) * [1.0, 2.0, 0.5] + [0.0, 3.0, -1.0]
    m = rng.random(x.shape) > 0.3
    m[..., 2] = False  # a feature never observed: mean 0, std 1
    x[:, :, 1] = np.where(m[:, :, 1], x[:, :, 1], np.nan)
    mean, std = standardiser(np.where(m, x, 0.0), m)
    obs = np.where(m, x, np.nan)[..., :2]
    np.testing.assert_allclose(mean[:2], np.nanmean(obs, axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(std[:2], np.nanstd(obs, axis=(0, 1)), rtol=1e-6)
    assert mean[2] == 0.0 and std[2] == 1.0


def test_split_is_a_partition_of_the_windows():
    train, held = split("f", "real", 11, 0.8, jax.random.key(0))
    assert len(train) == 8 and len(held) == 3  # floor(11 * 0.8)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held])), np.arange(11))


def test_generated_windows_borrow_real_masks():
    rng = np.random.default_rng(1)
    real, gen = rng.normal(size=(6, 4, 2)), rng.normal(size=(6, 4, 2))
    mask = rng.random(real.shape) > 0.5
    d = prepare("f", real, gen, mask, None, jax.random.key(2))
    assert d.masked
    # without replacement while there are enough: a permutation of the real masks
    real_rows = sorted(r.tobytes() for r in d.real_mask)
    assert sorted(g.tobytes() for g in d.generated_mask) == real_rows
    np.testing.assert_array_equal(d.real, np.where(mask, real, 0.0).astype(np.float32))


def test_errors_name_the_value():
    rng = np.random.default_rng(6)
    real, gen = rng.normal(size=(10, 8, 2)), rng.normal(size=(10, 8, 2))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"same length L and features K.*\(10, 8, 2\).*"
                                         r"\(10, 7, 2\)"):
        discriminative_score(key, real, gen[:, :7])
    with pytest.raises(ValueError, match=r"\(10, 8, 2\).*\(10, 8, 3\)"):
        predictive_score(key, real, np.zeros((10, 8, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, L, K\) or \(N, L\), got shape \(10,\)"):
        discriminative_score(key, real[:, 0, 0], gen)
    with pytest.raises(ValueError, match=r"generated needs at least one training and one "
                                         r"held-out window with train_fraction=0.8, got 1 "
                                         r"windows \(0 training, 1 held out\)"):
        discriminative_score(key, real, gen[:1])
    with pytest.raises(ValueError, match=r"real needs .* got 4 windows \(0 training, 4 "
                                         r"held out\)"):
        predictive_score(key, real[:4], gen, train_fraction=0.1)
    with pytest.raises(ValueError, match=r"train_fraction must be finite and in \(0, 1\), got "
                                         r"train_fraction=1.0"):
        discriminative_score(key, real, gen, train_fraction=1.0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got steps=0"):
        predictive_score(key, real, gen, steps=0)
    with pytest.raises(ValueError, match="unknown target 'first'"):
        predictive_score(key, real, gen, target="first")
    with pytest.raises(ValueError, match="needs K >= 2, got K=1"):
        predictive_score(key, real[..., 0], gen[..., 0], target="last")
    with pytest.raises(ValueError, match="L >= 2.*got L=1"):
        predictive_score(key, real[:, :1], gen[:, :1])
    # masks and missing values
    bad = real.copy()
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"real must be finite where observed, got nan at "
                                         r"index \(3, 4, 1\) \(mark missing values"):
        discriminative_score(key, bad, gen)
    mask = np.ones(real.shape)
    mask[0, 1, 0] = 0.5
    with pytest.raises(ValueError, match=r"mask must contain only 0 and 1.*0.5 at index "
                                         r"\(0, 1, 0\)"):
        discriminative_score(key, real, gen, mask=mask)
    with pytest.raises(ValueError, match=r"generated_mask must have the shape of generated "
                                         r"\(10, 8, 2\), got shape \(10, 8\)"):
        predictive_score(key, real, gen, generated_mask=np.ones((10, 8)))
    # labels
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match=r"real_labels must have shape \(10,\).*got shape "
                                         r"\(9,\)"):
        conditional_class_accuracy(key, real, y[:9], gen, y)
    with pytest.raises(ValueError, match="generated_labels must be integers, got dtype "
                                         "float64"):
        conditional_class_accuracy(key, real, y, gen, y.astype(float))
    with pytest.raises(ValueError, match="real_labels must be >= 0, got -1 at index 2"):
        conditional_class_accuracy(key, real, np.where(np.arange(10) == 2, -1, y), gen, y)
    with pytest.raises(ValueError, match="labels must be < num_classes=2, got label 2"):
        conditional_class_accuracy(key, real, y, gen, y + 1, num_classes=2)
    with pytest.raises(ValueError, match="single class"):
        conditional_class_accuracy(key, real, 0 * y, gen, 0 * y)
