"""The packaged FD-FMNIST classifier: integrity, accuracy on real test images, and FD
that grows with the corruption of the images."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.data import get_dataset
from diffax.features import FEATURE_NAMES, feature_name, fmnist_cnn, get_feature_fn
from diffax.metrics import frechet_distance_from_features


@pytest.fixture(scope="module")
def test_images():
    test = get_dataset("fashion_mnist", split="test")
    x = test.x[:2000].astype(np.float32) / 127.5 - 1.0
    return x, np.asarray(test.label[:2000])


def test_packaged_weights_match_their_record():
    record = fmnist_cnn.info()
    assert fmnist_cnn.sha256(fmnist_cnn.WEIGHTS_FILE) == record["sha256"]
    assert record["test_accuracy"] >= 0.89
    params = fmnist_cnn.load_params()
    assert sum(int(np.prod(v.shape)) for v in params.values()) < 300_000


def test_accuracy_on_real_test_images(test_images):
    x, y = test_images
    params = fmnist_cnn.load_params()
    pred = np.asarray(jnp.argmax(jax.jit(fmnist_cnn.logits)(params, x), -1))
    assert np.mean(pred == y) >= 0.88


def test_fd_grows_with_corruption(test_images):
    """FD between two disjoint halves of real images is small; adding Gaussian noise of
    growing std raises it monotonically (FD-FMNIST measures what it should)."""
    x, _ = test_images
    feats = get_feature_fn("fmnist_cnn")
    a, b = x[:1000], x[1000:]
    fa = feats(a)
    assert fa.shape == (1000, fmnist_cnn.FEATURE_DIM) and bool(jnp.all(jnp.isfinite(fa)))
    rng = np.random.default_rng(0)
    fds = []
    for std in (0.0, 0.1, 0.3, 0.6):
        noisy = np.clip(b + std * rng.normal(size=b.shape).astype(np.float32), -1, 1)
        fds.append(float(frechet_distance_from_features(fa, feats(noisy))))
    assert all(lo < hi for lo, hi in zip(fds, fds[1:])), fds
    assert fds[-1] > 20 * fds[0], fds


def test_names_and_errors(tmp_path):
    assert FEATURE_NAMES["fmnist_cnn"].startswith("FD-FMNIST")
    with pytest.raises(ValueError, match=r"get_feature_fn: unknown features 'vgg'; valid "
                                         r"choices: \['fmnist_cnn', 'inception_v3'\]"):
        get_feature_fn("vgg")
    with pytest.raises(ValueError, match=r"features 'fmnist_cnn': unknown option\(s\) \['pth'\] "
                                         r"\(did you mean 'path'\?\)"):
        get_feature_fn("fmnist_cnn", pth="weights.npz")
    with pytest.raises(ValueError, match=r"feature_name: unknown features 'fid'"):
        feature_name("fid")
    with pytest.raises(FileNotFoundError, match="train_fmnist_classifier"):
        fmnist_cnn.load_params(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"conv1/w": np.zeros((3, 3, 1, 32))})
    with pytest.raises(ValueError, match="missing keys"):
        fmnist_cnn.load_params(str(bad))
    with pytest.raises(ValueError, match="28, 28, 1"):
        fmnist_cnn.features(fmnist_cnn.load_params(), jnp.zeros((2, 32, 32, 3)))


def test_evaluation_picks_fd_fmnist_for_fashion_mnist():
    """eval.features="auto" means what the task says: the image task picks FD-FMNIST's
    classifier for Fashion-MNIST and pixels otherwise; the vector task pixels."""
    import types

    from experiments.evaluation import feature_function
    from experiments.tasks import get_task

    image = get_task("image")
    fmnist, digits = (types.SimpleNamespace(name=n) for n in ("fashion_mnist", "digits"))
    name, fn = feature_function("auto", image.default_features(fmnist))
    assert name == FEATURE_NAMES["fmnist_cnn"]
    assert fn(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 128)
    assert feature_function("auto", image.default_features(digits))[0] == "pixels"
    assert get_task("vector").default_features(fmnist) == "pixels"
    assert feature_function("pixels", "fmnist_cnn")[0] == "pixels"  # explicit wins
