"""COV, MMD and 1-NNA on constructed cases with known answers."""

import numpy as np
import pytest

from diffax.metrics import (chamfer_distance, coverage, earth_movers_distance,
                            minimum_matching_distance, one_nn_accuracy, set_distance_matrix)


def _clouds(seed, n_sets=6, n_points=12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_sets, n_points, 3)).astype(np.float32)


def test_set_distance_matrix_matches_pairwise_calls():
    xs, ys = _clouds(0, 5), _clouds(1, 7)
    for name, fn in (("chamfer", chamfer_distance), ("emd", earth_movers_distance)):
        d = np.asarray(set_distance_matrix(xs, ys, name, block_size=3))
        expected = np.array([[float(fn(x, y)) for y in ys] for x in xs])
        np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-6)
    # a user callable: distance between the centroids
    d = set_distance_matrix(xs, ys, lambda a, b: abs(a.mean() - b.mean()))
    np.testing.assert_allclose(d, np.abs(xs.mean((1, 2))[:, None] - ys.mean((1, 2))[None]),
                               atol=1e-6)


def test_precomputed_matrices_known_answers():
    # gen 0 and 1 both nearest to ref 2; gen 2 nearest to ref 0; ref 1 and 3 unmatched.
    d = np.array([[5.0, 4.0, 1.0, 9.0],
                  [6.0, 7.0, 2.0, 8.0],
                  [0.5, 3.0, 6.0, 7.0]])
    assert float(coverage(d)) == pytest.approx(2 / 4)
    assert float(minimum_matching_distance(d)) == pytest.approx((0.5 + 3.0 + 1.0 + 7.0) / 4)
    # Points on a line: gen at 0, 2, 4, ref at 1, 3, 5 -> every nearest neighbour is of
    # the other class (distance 1 < 2): 1-NNA = 0. Two far clusters -> 1-NNA = 1.
    g, r = np.array([0.0, 2.0, 4.0]), np.array([1.0, 3.0, 5.0])

    def mats(g, r):
        return (np.abs(g[:, None] - g[None]), np.abs(g[:, None] - r[None]),
                np.abs(r[:, None] - r[None]))

    assert float(one_nn_accuracy(mats(g, r))) == 0.0
    assert float(one_nn_accuracy(mats(np.array([0.0, 0.1, 0.3]), r + 10.0))) == 1.0
    # Mixed: gen {0, 0.1}, ref {0.15, 5, 5.2}: 0->0.1 (right), 0.1->0.15 (wrong),
    # 0.15->0.1 (wrong), 5->5.2 (right), 5.2->5 (right): 3/5.
    assert float(one_nn_accuracy(mats(np.array([0.0, 0.1]), np.array([0.15, 5.0, 5.2])))) \
        == pytest.approx(3 / 5)


@pytest.mark.parametrize("distance", ["chamfer", "emd"])
def test_from_sets_copies_subsets_and_far_sets(distance):
    ref = _clouds(2)
    # Exact (reordered-point) copies: full coverage, zero MMD, every set's nearest
    # neighbour is its copy in the other set -> 1-NNA = 0.
    rng = np.random.default_rng(3)
    gen = ref[:, rng.permutation(ref.shape[1])]
    assert float(coverage(gen, ref, distance=distance)) == 1.0
    assert float(minimum_matching_distance(gen, ref, distance=distance)) == pytest.approx(
        0.0, abs=1e-5)
    assert float(one_nn_accuracy(gen, ref, distance=distance)) == 0.0
    # Mode collapse: every generated set is ref[1] -> coverage 1/6, MMD = mean_j D(ref1, ref_j).
    collapsed = np.repeat(ref[1:2], 4, axis=0)
    assert float(coverage(collapsed, ref, distance=distance)) == pytest.approx(1 / 6)
    fn = chamfer_distance if distance == "chamfer" else earth_movers_distance
    expected = np.mean([float(fn(ref[1], y)) for y in ref])
    assert float(minimum_matching_distance(collapsed, ref, distance=distance)) == \
        pytest.approx(expected, rel=1e-5)
    # Far away generated sets are perfectly separable -> 1-NNA = 1.
    assert float(one_nn_accuracy(ref + 50.0, ref, distance=distance)) == 1.0


def test_errors():
    with pytest.raises(ValueError, match="unknown distance 'hausdorff'"):
        coverage(_clouds(0), _clouds(1), distance="hausdorff")
    with pytest.raises(ValueError, match=r"precomputed non-empty \(n_gen, n_ref\)"):
        coverage(np.zeros(3))
    with pytest.raises(ValueError, match="tuple"):
        one_nn_accuracy(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="inconsistent matrix shapes"):
        one_nn_accuracy((np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2))))
    with pytest.raises(ValueError, match="'emd' needs equal-size clouds"):
        set_distance_matrix(_clouds(0, 2, 5), _clouds(1, 2, 6), "emd")
    with pytest.raises(ValueError, match=r"\(n_sets, n_points, d\)"):
        minimum_matching_distance(np.zeros((3, 4)), np.zeros((3, 4, 2)))
