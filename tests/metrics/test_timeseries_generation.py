"""TimeGAN's discriminative and predictive scores and the conditional class accuracy.

The bounds come from the held-out sample sizes and were checked against repeated runs
with other data/key seeds than the tests' (tiny nets, CPU):

* Discriminative, same process: 40 + 40 held-out windows; under the null the balanced
  accuracy has standard deviation <= sqrt(1/4 / 80) = 0.056, so |acc - 1/2| < 0.17
  (3 sigma). 20 seeds: mean 0.040, max 0.137 (the test's seed: 0.025). Sines vs white
  noise: min 0.488 (test: 0.5). With 20 % missing values and borrowed masks (10
  seeds): max 0.088 (test: 0.088); fully observed generated windows: min 0.475
  (test: 0.45).
* Predictive on AR(1), phi = 0.9, unit innovations: the best one-step MAE is
  sqrt(2/pi) = 0.798; a predictor trained on white noise of the same marginal variance
  predicts 0 and scores sqrt(2/pi) / sqrt(1 - phi^2) = 2.29x that. 6 seeds: reference
  0.96-1.05x optimal, score within 1.7 % of the reference, noise-trained 2.03-2.47x
  optimal (test: 0.802 reference, 0.796 score, 1.70 noise-trained). 920 held-out
  errors give a standard error of ~2.5 % of the MAE. target="last" (best MAE 0.239):
  4 seeds, reference 1.05-1.24x optimal, score within 4 % of it, decoupled 6-7x.
* Conditional accuracy, 3 separable sine classes (6 seeds): generated 0.97-1.0,
  reference 0.97-1.0; shuffled labels 0.32-0.38 (chance 1/3, sd 0.038 on 150
  windows); labels rotated by one class 0.0-0.013 (test: 0.987, 1.0, 0.367, 0.007).
"""

import jax
import numpy as np
import pytest

from diffax.metrics import (conditional_class_accuracy, discriminative_score,
                            predictive_score)

TINY = dict(hidden=16, steps=300, batch_size=64)


def _sines(rng, n, length=24, features=2, noise=0.05):
    t = np.arange(length)[None, :, None]
    freq = rng.uniform(0.2, 0.5, (n, 1, features))
    phase = rng.uniform(0.0, 2.0 * np.pi, (n, 1, features))
    return np.sin(freq * t + phase) + noise * rng.normal(size=(n, length, features))


def _ar1(rng, n, length=24, phi=0.9):
    x = np.zeros((n, length))
    x[:, 0] = rng.normal(size=n) / np.sqrt(1.0 - phi**2)
    for t in range(1, length):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=n)
    return x


def _sine_classes(rng, n, length=24, num_classes=3):
    y = rng.integers(0, num_classes, n)
    freq = 0.25 + 0.25 * y[:, None] + rng.uniform(-0.05, 0.05, (n, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, (n, 1))
    x = np.sin(freq * np.arange(length)[None] + phase) + 0.1 * rng.normal(size=(n, length))
    return x, y


NULL_BOUND = 0.17  # 3 sigma of |balanced accuracy - 1/2| on 40 + 40 held-out windows


def test_discriminative_same_process_near_zero_and_deterministic():
    rng = np.random.default_rng(0)
    real, generated = _sines(rng, 200), _sines(rng, 200)
    key = jax.random.key(0)
    res = discriminative_score(key, real, generated, **TINY)
    assert res.score < NULL_BOUND
    assert res.accuracy == pytest.approx(0.5 * (res.real_accuracy + res.generated_accuracy))
    assert res.score == pytest.approx(abs(res.accuracy - 0.5))
    assert discriminative_score(key, real, generated, **TINY) == res  # same key, same score


def test_discriminative_different_processes_near_half():
    rng = np.random.default_rng(1)
    real = _sines(rng, 200)
    noise = 0.7 * rng.normal(size=real.shape)
    res = discriminative_score(jax.random.key(1), real, noise, **TINY)
    assert res.score > 0.4
    assert res.real_accuracy > 0.8 and res.generated_accuracy > 0.8


def test_discriminative_missing_values():
    rng = np.random.default_rng(2)
    real, generated = _sines(rng, 200), _sines(rng, 200)
    mask = rng.random(real.shape) > 0.2
    real[~mask] = np.nan  # missing values may be NaN
    key = jax.random.key(2)
    # The generated windows borrow real masks: missingness carries no signal.
    assert discriminative_score(key, real, generated, mask=mask, **TINY).score < NULL_BOUND
    # Fully observed generated windows are told apart by the mask channels alone.
    res = discriminative_score(key, real, generated, mask=mask,
                               generated_mask=np.ones_like(mask), **TINY)
    assert res.score > 0.4


def test_predictive_ar1_train_on_synthetic_test_on_real():
    rng = np.random.default_rng(3)
    # Univariate (N, L) windows; 160 generated windows = the 80 % real training split, so
    # both predictors train on arrays of one shape (one compilation).
    real, same = _ar1(rng, 200), _ar1(rng, 160)
    noise = rng.normal(size=same.shape) / np.sqrt(1.0 - 0.9**2)  # same marginal, no memory
    best = np.sqrt(2.0 / np.pi)  # E|innovation|
    key = jax.random.key(3)
    kw = dict(hidden=8, steps=600, batch_size=64)
    res = predictive_score(key, real, same, **kw)
    assert res.reference == pytest.approx(best, rel=0.1)
    assert res.score == pytest.approx(res.reference, rel=0.1)
    bad = predictive_score(key, real, noise, **kw)
    assert bad.reference == res.reference  # same split, initial weights and batches
    assert bad.score > 1.8 * res.reference


def test_predictive_last_feature_variant():
    # Feature 2 at t + 1 is feature 1 at t plus noise (sd 0.3): TimeGAN's target.
    rng = np.random.default_rng(4)

    def pairs(n, coupled=True):
        x1 = _ar1(rng, n)
        lead = x1 if coupled else _ar1(rng, n)
        x2 = np.concatenate([rng.normal(size=(n, 1)), lead[:, :-1]], axis=1)
        return np.stack([x1, x2 + 0.3 * rng.normal(size=x1.shape)], axis=-1)

    real = pairs(200)
    kw = dict(hidden=8, steps=600, batch_size=64, target="last")
    res = predictive_score(jax.random.key(4), real, pairs(160), **kw)
    assert res.reference < 1.3 * 0.3 * np.sqrt(2.0 / np.pi)
    assert res.score == pytest.approx(res.reference, rel=0.15)
    bad = predictive_score(jax.random.key(4), real, pairs(160, coupled=False), **kw)
    assert bad.score > 3.0 * res.reference


def test_conditional_class_accuracy():
    rng = np.random.default_rng(5)
    x, y = _sine_classes(rng, 150)
    gen, gen_y = _sine_classes(rng, 150)
    key = jax.random.key(5)
    res = conditional_class_accuracy(key, x, y, gen, gen_y, **TINY)
    assert res.accuracy > 0.9 and res.reference > 0.85
    # Labels unrelated to the windows: chance, 1/3 (sd 0.038 on 150 windows).
    shuffled = conditional_class_accuracy(key, x, y, gen, rng.permutation(gen_y), **TINY)
    assert abs(shuffled.accuracy - 1 / 3) < 0.15
    assert shuffled.reference == res.reference
    # Every window drawn for the wrong class.
    assert conditional_class_accuracy(key, x, y, gen, (gen_y + 1) % 3, **TINY).accuracy < 0.1
