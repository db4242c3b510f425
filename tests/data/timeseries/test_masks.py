"""Time-series target masks: exact counts, subsets of the observed mask, grating
coverage, determinism per key, jit == eager, and the errors.

Masks are 0/1 values produced by integer PRNG bits, comparisons and ranks, so jit and
eager results are equal by construction and are compared bitwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.data.timeseries.masks import (check_masks, forecast_target_mask, grating_masks,
                                          historical_target_mask, mix_target_mask,
                                          random_target_mask, random_time_mask)

B, L, K = 6, 12, 3


def _observed(seed=0, p=0.7):
    m = (np.random.default_rng(seed).random((B, L, K)) < p).astype(np.float32)
    m[:, 0, 0] = 1.0  # every example observes something
    return m


def _assert_subset(target, observed):
    target = np.asarray(target)
    assert target.shape == observed.shape and target.dtype == np.float32
    assert set(np.unique(target)) <= {0.0, 1.0}
    assert np.all(target <= observed)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_random_target_hides_exact_count(rate):
    obs = _observed()
    target = random_target_mask(jax.random.key(0), obs, rate)
    _assert_subset(target, obs)
    n_obs = obs.reshape(B, -1).sum(1)
    expected = np.array([round(rate * n) for n in n_obs])  # Python's round: half to even
    np.testing.assert_array_equal(np.asarray(target).reshape(B, -1).sum(1), expected)


def test_random_target_rounds_half_to_even():
    obs = np.zeros((2, 4, 2), np.float32)
    obs[0, :3, 0] = 1  # 3 observed: 0.5 * 3 = 1.5 -> 2
    obs[1, :4, 0] = 1
    obs[1, 0, 1] = 1  # 5 observed: 0.5 * 5 = 2.5 -> 2
    target = random_target_mask(jax.random.key(1), obs, 0.5)
    np.testing.assert_array_equal(np.asarray(target).reshape(2, -1).sum(1), [2, 2])


def test_random_target_training_rate_is_drawn_per_example():
    obs = np.ones((64, 10, 2), np.float32)
    target = np.asarray(random_target_mask(jax.random.key(2), obs))
    fractions = target.reshape(64, -1).mean(1)
    _assert_subset(target, obs)
    # Each count is round(r * 20) for its own r ~ U[0, 1): many distinct fractions.
    assert len(np.unique(fractions)) > 10
    assert fractions.min() < 0.2 and fractions.max() > 0.8


def test_random_target_positions_are_uniform():
    obs = np.ones((4000, 2, 2), np.float32)
    target = np.asarray(random_target_mask(jax.random.key(3), obs, 0.25))
    freq = target.mean(0).ravel()
    # One of 4 positions per example; each frequency ~ 0.25 with std 0.007 (4000 draws).
    np.testing.assert_allclose(freq, 0.25, atol=0.03)


def test_determinism_and_jit_equals_eager():
    obs = _observed(1)
    key = jax.random.key(7)
    for fn in (lambda k, o: random_target_mask(k, o, 0.5),
               lambda k, o: random_target_mask(k, o),
               lambda k, o: historical_target_mask(k, o),
               lambda k, o: mix_target_mask(k, o),
               lambda k, o: random_time_mask(k, o, 0.6)):
        eager = np.asarray(fn(key, obs))
        np.testing.assert_array_equal(eager, np.asarray(fn(key, obs)))
        np.testing.assert_array_equal(eager, np.asarray(jax.jit(fn)(key, obs)))
        assert not np.array_equal(eager, np.asarray(fn(jax.random.key(8), obs)))
        _assert_subset(eager, obs)


def test_traced_rate_under_jit_and_vmap():
    obs = _observed(2)
    key = jax.random.key(4)
    jitted = jax.jit(random_target_mask)(key, obs, 0.5)
    np.testing.assert_array_equal(jitted, random_target_mask(key, obs, 0.5))
    # vmap over keys: one (B, L, K) mask per key, each with the exact count.
    keys = jax.random.split(key, 3)
    many = jax.vmap(lambda k: random_target_mask(k, obs, 0.5))(keys)
    counts = np.asarray(many).reshape(3, B, -1).sum(-1)
    expected = [round(0.5 * n) for n in obs.reshape(B, -1).sum(1)]
    np.testing.assert_array_equal(counts, np.tile(expected, (3, 1)))


def test_historical_target_with_given_pattern():
    obs = _observed(3)
    pattern = np.roll(obs, 1, axis=0)  # CSDI: the previous example's pattern
    target = historical_target_mask(jax.random.key(0), obs, pattern)
    np.testing.assert_array_equal(target, obs * (1 - pattern))


def test_historical_target_borrows_another_example():
    n = 5
    obs = 1 - np.eye(n, dtype=np.float32)[:, :, None]  # example i misses step i only
    donors = np.zeros((n, n), int)
    for seed in range(40):
        target = np.asarray(historical_target_mask(jax.random.key(seed), obs))
        _assert_subset(target, obs)
        # target_i = obs_i * (1 - obs_j): exactly step j, which names the donor j != i.
        np.testing.assert_array_equal(target.sum((1, 2)), 1)
        donors[np.arange(n), target[..., 0].argmax(1)] += 1
    assert np.all(np.diag(donors) == 0)
    assert np.all(donors + np.eye(n, dtype=int) > 0)  # every other example is drawn


def test_mix_picks_one_strategy_per_example():
    obs = _observed(4, p=0.9)
    pattern = np.roll(obs, 1, axis=0)
    key = jax.random.key(9)
    mixed = np.asarray(mix_target_mask(key, obs, pattern, rate=0.5))
    hist = obs * (1 - pattern)
    n_obs = obs.reshape(B, -1).sum(1)
    for i in range(B):
        is_hist = np.array_equal(mixed[i], hist[i])
        is_rand = mixed[i].sum() == round(0.5 * n_obs[i])
        assert is_hist or is_rand
    assert np.array_equal(mix_target_mask(key, obs, pattern, rate=0.5, p_random=0.0), hist)
    all_rand = np.asarray(mix_target_mask(key, obs, pattern, rate=0.5, p_random=1.0))
    np.testing.assert_array_equal(all_rand.reshape(B, -1).sum(1),
                                  [round(0.5 * n) for n in n_obs])


def test_forecast_target_is_the_last_steps():
    obs = _observed(5)
    target = np.asarray(forecast_target_mask(obs, 4))
    _assert_subset(target, obs)
    np.testing.assert_array_equal(target[:, :-4], 0)
    np.testing.assert_array_equal(target[:, -4:], obs[:, -4:])


def test_random_time_mask_drops_whole_steps():
    obs = np.ones((200, 30, 4), np.float32)
    thinned = np.asarray(random_time_mask(jax.random.key(6), obs, 0.3))
    _assert_subset(thinned, obs)
    per_step = thinned.sum(-1)
    assert set(np.unique(per_step)) <= {0.0, 4.0}  # all channels or none
    assert abs(per_step.mean() / 4 - 0.3) < 0.02  # 6000 steps: std 0.006
    np.testing.assert_array_equal(random_time_mask(jax.random.key(6), obs, 1.0), obs)


@pytest.mark.parametrize("length,num_masks,segment", [(12, 2, 3), (10, 2, 4), (11, 3, 2),
                                                      (5, 5, 1), (7, 2, 6)])
def test_grating_masks_are_complementary(length, num_masks, segment):
    masks = np.asarray(grating_masks(length, 3, num_masks, segment=segment))
    assert masks.shape == (num_masks, length, 3) and masks.dtype == np.float32
    np.testing.assert_array_equal(masks.sum(0), 1.0)  # each step a target exactly once
    assert np.all(masks.sum((1, 2)) > 0)  # each mask hides something
    np.testing.assert_array_equal(masks, np.broadcast_to(masks[..., :1], masks.shape))
    t = np.arange(length)
    np.testing.assert_array_equal(masks[0, :, 0], (t // segment) % num_masks == 0)


def test_grating_masks_two_masks_alternate():
    masks = np.asarray(grating_masks(8, 1, segment=2))[..., 0]
    np.testing.assert_array_equal(masks, [[1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]])


def test_check_masks_accepts_good_pair():
    obs = _observed(6)
    obs[:, -1, 0] = 1  # every example observes its last step and its first
    check_masks(obs, forecast_target_mask(obs, 1))
    check_masks(obs, random_target_mask(jax.random.key(0), obs, 0.5))


def test_check_masks_names_empty_examples():
    obs = np.ones((4, 3, 2), np.float32)
    target = np.zeros_like(obs)
    target[0] = 1  # hides everything; example 1 hides nothing
    target[2, 0, 0] = 1
    target[3, 1, 1] = 1
    with pytest.raises(ValueError, match=r"\[0\] have an empty conditioning set.*\[1\] "
                                         r"have an empty target set"):
        check_masks(obs, target)
    obs[3, 1, 1] = 0
    with pytest.raises(ValueError, match=r"\[3\] have targets at unobserved positions"):
        check_masks(obs, target)
    with pytest.raises(ValueError, match="shape of observed_mask"):
        check_masks(obs, target[:2])
    with pytest.raises(ValueError, match="only 0 and 1, got 0.5"):
        check_masks(obs, target * 0.5)


def test_check_masks_refuses_tracers():
    obs = _observed(7)
    with pytest.raises(ValueError, match="outside jit"):
        jax.jit(lambda o: check_masks(o, o))(obs)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=r"rate must be finite and in \[0, 1\]"):
        random_target_mask(jax.random.key(0), _observed(), rate)


@pytest.mark.parametrize("horizon", [0, L, L + 3])
def test_horizon_out_of_range(horizon):
    with pytest.raises(ValueError, match=rf"horizon must be an integer in \[1, {L - 1}\], "
                                         rf"got horizon={horizon}"):
        forecast_target_mask(_observed(), horizon)


def test_example_without_observed_value():
    obs = _observed()
    obs[[1, 4]] = 0
    for call in (lambda: random_target_mask(jax.random.key(0), obs, 0.5),
                 lambda: historical_target_mask(jax.random.key(0), obs),
                 lambda: forecast_target_mask(obs, 2)):
        with pytest.raises(ValueError, match=r"example\(s\) \[1, 4\] of observed_mask .* no "
                                             "observed value"):
            call()
    random_time_mask(jax.random.key(0), obs, 0.5)  # no target needed: accepted


def test_other_argument_errors():
    obs = _observed()
    with pytest.raises(ValueError, match=r"observed_mask must have shape \(B, L, K\)"):
        random_target_mask(jax.random.key(0), obs[0], 0.5)
    with pytest.raises(ValueError, match="observed_mask must contain only 0 and 1, got 2.0"):
        random_target_mask(jax.random.key(0), obs * 2, 0.5)
    with pytest.raises(ValueError, match=r"keep must be finite and in \(0, 1\]"):
        random_time_mask(jax.random.key(0), obs, 0.0)
    with pytest.raises(ValueError, match="at least 2 examples, got B=1"):
        historical_target_mask(jax.random.key(0), obs[:1])
    with pytest.raises(ValueError, match="pattern_mask must have the shape"):
        historical_target_mask(jax.random.key(0), obs, obs[:, :3])
    with pytest.raises(ValueError, match=r"p_random must be finite and in \[0, 1\]"):
        mix_target_mask(jax.random.key(0), obs, p_random=2.0)
    with pytest.raises(ValueError, match=r"segment must be an integer in \[1, 4\] so that each "
                                         "of the 3 masks"):
        grating_masks(10, 2, 3, segment=5)
    with pytest.raises(ValueError, match=r"num_masks must be an integer in \[2, 10\]"):
        grating_masks(10, 2, 1, segment=2)


def test_integer_and_bool_masks_become_float32():
    obs = jnp.asarray(_observed() > 0)
    target = random_target_mask(jax.random.key(0), obs, 0.5)
    assert target.dtype == jnp.float32
