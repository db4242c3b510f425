"""--mode=fid end to end at 64 samples with the FD-FMNIST features, on a tiny Fashion-MNIST
U-Net (a step-0 checkpoint: the protocol under test does not need a good model, and
skipping the train step's compile keeps the file under a minute): the FID equals
diffax.metrics on the features of the written samples, a preempted run (one chunk
deleted, one corrupted) resumes to the same number without rewriting intact chunks, the
reference statistics are cached by the weights hash, and the running moments equal NumPy's.
"""

import copy
import importlib
import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.image import fashion_mnist_edm
from diffax import training
from diffax.data import get_dataset
from diffax.features import fmnist_cnn
from diffax.metrics import frechet_distance_from_features
from experiments import fid, fid_stats, runner

N_REF = 256


def tiny_config():
    c = fashion_mnist_edm.get_config()
    c.model.kwargs.channels = 8
    c.model.kwargs.channel_mult = (1, 2)
    c.model.kwargs.attn_resolutions = ()
    c.data.batch_size = 8
    c.training.progress = False
    c.sampling.sampler = "euler"
    c.sampling.nfe = 2
    c.fid.num_samples = 60             # not a multiple of the chunk: the last one is cut
    c.fid.chunk_size = 16
    c.fid.feature_batch_size = 64
    c.fid.reference_num_examples = N_REF
    return c


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("fid_fmnist"))
    c = tiny_config()
    tx, _ = runner._optimizer(c)
    _, state = runner._initial_state(runner.build(c), tx)
    with runner._checkpointer(c, workdir) as ckpt:
        ckpt.save(state, step=0)
    record = fid.run(c, workdir)
    chunk_dir = os.path.join(workdir, "fid", record["run"])
    chunks = [np.load(os.path.join(chunk_dir, f"chunk_{i}.npz"))["x"] for i in range(4)]
    return c, workdir, record, chunks


def fmnist_features(x):
    params = fmnist_cnn.load_params()
    return np.asarray(jax.jit(fmnist_cnn.features)(params, jnp.asarray(x)), np.float64)


def reference_images():
    train = get_dataset("fashion_mnist", split="train")
    return train.x[:N_REF].astype(np.float32) / 127.5 - 1.0


def test_fid_equals_the_frechet_distance_of_the_written_samples(first_run):
    c, workdir, record, chunks = first_run
    assert record["num_samples"] == 60 and record["chunks"] == 4
    assert record["chunks_sampled"] == [0, 1, 2, 3] and not record["reference"]["reused"]
    assert record["sampler"] == "euler" and record["nfe"] == 2 and record["step"] == 0
    on_disk = json.load(open(os.path.join(workdir, "fid", record["run"] + ".json")))
    assert on_disk["fid"] == record["fid"] and on_disk["wall_s"] > 0
    samples = fid.from_uint8(np.concatenate(chunks)[:60])
    # the samples differ from chunk to chunk (fold_in keys) and sit on the 8-bit grid
    assert not np.array_equal(chunks[0], chunks[1])
    f_s, f_r = fmnist_features(samples), fmnist_features(reference_images())
    with jax.enable_x64(True):
        expected = float(frechet_distance_from_features(jnp.asarray(f_s), jnp.asarray(f_r)))
        self_fd = float(frechet_distance_from_features(jnp.asarray(f_r), jnp.asarray(f_r)))
    # sharded vs unsharded float32 features differ by ulps; FD ~ 500 here
    assert record["fid"] == pytest.approx(expected, rel=1e-5)
    with np.load(record["reference"]["path"]) as ref:
        mu, cov, count = ref["mean"], ref["cov"], int(ref["count"])
        assert str(ref["sha256"]) == fmnist_cnn.sha256(fmnist_cnn.WEIGHTS_FILE)
    assert count == N_REF
    np.testing.assert_allclose(mu, f_r.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cov, np.cov(f_r, rowvar=False), rtol=1e-4, atol=1e-6)
    # the reference against itself: 0 up to the float64 rounding of the matrix roots
    assert fid_stats.frechet(mu, cov, mu, cov) == pytest.approx(self_fd, abs=1e-7)
    assert self_fd < 1e-7


def test_a_preempted_run_resumes_to_the_same_fid(first_run):
    c, workdir, record, chunks = first_run
    chunk_dir = os.path.join(workdir, "fid", record["run"])
    path = [os.path.join(chunk_dir, f"chunk_{i}.npz") for i in range(4)]
    mtimes = {i: os.stat(path[i]).st_mtime_ns for i in (0, 3)}
    os.remove(path[1])
    data = bytearray(open(path[2], "rb").read())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the samples, same length
    open(path[2], "wb").write(bytes(data))
    again = fid.run(copy.deepcopy(c), workdir)
    assert again["chunks_sampled"] == [1, 2] and again["reference"]["reused"]
    assert again["fid"] == record["fid"]
    assert {i: os.stat(path[i]).st_mtime_ns for i in (0, 3)} == mtimes
    for i in (1, 2):
        np.testing.assert_array_equal(np.load(path[i])["x"], chunks[i])


def test_read_chunk_refuses_partial_and_stale_chunks(tmp_path):
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28, 1)
    meta = {"run": "r", "index": 3, "seed": 0}
    path = str(tmp_path / "chunk_3.npz")
    fid.write_chunk(path, x, meta)
    np.testing.assert_array_equal(fid.read_chunk(path, meta, x.shape), x)
    assert fid.read_chunk(path, {**meta, "seed": 1}, x.shape) is None
    assert fid.read_chunk(path, meta, (4, 28, 28, 1)) is None
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])  # a write cut short
    assert fid.read_chunk(path, meta, x.shape) is None
    assert fid.read_chunk(str(tmp_path / "missing.npz"), meta, x.shape) is None
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]


def test_reference_cache_follows_the_weights_hash(first_run, tmp_path, capsys):
    c, workdir, record, _ = first_run
    stats_dir = os.path.join(workdir, "fid", "reference")
    mesh = training.make_mesh()
    # other weights (the dense layer scaled): a new hash, so the cache is recomputed
    params = {k: np.asarray(v) * (1.5 if k == "dense/w" else 1.0)
              for k, v in fmnist_cnn.load_params().items()}
    weights = str(tmp_path / "fmnist_other.npz")
    fmnist_cnn.save_params(params, weights)
    c = copy.deepcopy(c)
    c.fid.weights = weights
    ex = fid_stats.make_extractor(*fid.resolve_features(c))
    feats = fid_stats.sharded_feature_fn(ex, mesh, 64)
    capsys.readouterr()
    mu, cov, n, path, reused = fid.reference_statistics(c, ex, feats, stats_dir)
    assert not reused and path != record["reference"]["path"] and n == N_REF
    assert "other fmnist_cnn weights" in capsys.readouterr().out
    expected = fmnist_features_with(params, reference_images())
    np.testing.assert_allclose(mu, expected.mean(0), rtol=1e-5, atol=1e-6)
    mtime = os.stat(path).st_mtime_ns
    mu2, cov2, _, path2, reused2 = fid.reference_statistics(c, ex, feats, stats_dir)
    assert reused2 and path2 == path and os.stat(path).st_mtime_ns == mtime
    np.testing.assert_array_equal(cov2, cov)
    # a cache under the right name whose stored hash disagrees is not trusted
    with np.load(path) as f:
        tampered = {k: f[k] for k in f.files}
    tampered["sha256"] = np.asarray("0" * 64)
    buf = io.BytesIO()
    np.savez(buf, **tampered)
    open(path, "wb").write(buf.getvalue())
    *_, reused3 = fid.reference_statistics(c, ex, feats, stats_dir)
    assert not reused3 and "recomputing" in capsys.readouterr().out


def fmnist_features_with(params, x):
    return np.asarray(jax.jit(fmnist_cnn.features)(
        {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x)), np.float64)


def test_running_moments_equal_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(301, 5)) @ rng.normal(size=(5, 5)) + 1e4  # a large common offset
    stats = fid_stats.RunningStats.empty(5)
    for part in np.split(x, [1, 8, 58, 61, 200]):  # uneven batches, one of a single row
        stats = stats.update(part)
    assert stats.count == 301
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-14)
    # np.cov centres first too; both are exact to ~1e-12 of the offset squared scale
    np.testing.assert_allclose(stats.covariance(), np.cov(x, rowvar=False), rtol=1e-9,
                               atol=1e-9)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        stats.update(np.zeros((3, 4)))


@pytest.mark.parametrize("field, value, match", [
    ("chunk_size", 0, "fid.chunk_size=0"),
    ("features", "clip", "choose one of"),
    ("sampler", "eulr", "fid.sampler='eulr'"),
    ("num_samples", 1, "at least 2"),
])
def test_bad_fid_settings_are_named(field, value, match):
    c = tiny_config()
    c.fid[field] = value
    with pytest.raises(ValueError, match=match):
        fid.check_fid_config(c)


@pytest.fixture
def bucket(monkeypatch):
    """gs:// served in this process by tests/fake_gcs.py (restored afterwards)."""
    import fsspec
    from etils.epath import backend
    from fake_gcs import FakeGCSFileSystem, FakeGCSServer, environment

    server = FakeGCSServer()
    for key, value in environment(server).items():
        monkeypatch.setenv(key, value)
    registered = importlib.import_module("fsspec.registry")._registry
    saved = {p: registered.get(p) for p in ("gs", "gcs")}
    for p in saved:
        fsspec.register_implementation(p, FakeGCSFileSystem, clobber=True)
    backend.fsspec_backend._get_filesystem.cache_clear()
    yield server
    for p, cls in saved.items():
        if cls is None:
            registered.pop(p, None)
        else:
            fsspec.register_implementation(p, cls, clobber=True)
    backend.fsspec_backend._get_filesystem.cache_clear()
    server.close()


def test_chunks_and_reference_cache_on_a_bucket(bucket):
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28, 1)
    meta = {"run": "r", "index": 0, "seed": 0}
    path = "gs://fid-test/w/fid/r/chunk_0.npz"
    fid.write_chunk(path, x, meta)
    assert bucket.names("fid-test") == ["w/fid/r/chunk_0.npz"]
    np.testing.assert_array_equal(fid.read_chunk(path, meta, x.shape), x)
    bucket.put("fid-test", "w/fid/r/chunk_0.npz",
               bucket.get("fid-test", "w/fid/r/chunk_0.npz")[:100])  # cut short
    assert fid.read_chunk(path, meta, x.shape) is None
    ex = fid_stats.make_extractor("fmnist_cnn")
    stats = fid_stats.RunningStats.empty(2).update(np.array([[0.0, 1.0], [2.0, 5.0],
                                                             [1.0, 0.0]]))
    ref = fid_stats.reference_cache_path("gs://fid-test/stats", "fashion_mnist", "train", 3, ex)
    meta = {"dataset": "fashion_mnist", "sha256": ex.sha256}
    fid_stats.save_reference(ref, stats, meta)
    mean, cov, count = fid_stats.load_reference(ref, meta)
    assert count == 3
    np.testing.assert_array_equal(cov, stats.covariance())
    other = ref.replace(ex.sha256[:16], "f" * 16)
    fid_stats.save_reference(other, stats, meta)
    assert fid_stats.stale_caches(ref) == [other]


def test_fid_is_a_mode_of_the_command_line():
    from experiments import main

    assert main.parse_modes("train,fid") == ["train", "fid"]


def test_class_conditional_chunks_cycle_labels_over_the_global_index():
    from types import SimpleNamespace

    from experiments.tasks.base import Task

    exp = SimpleNamespace(num_classes=10, spec=SimpleNamespace(num_classes=10),
                          task=SimpleNamespace(sample_condition=Task.sample_condition.__get__(
                              SimpleNamespace())))
    labels = np.concatenate([fid._condition(exp, i, 16)["label"] for i in range(5)])
    np.testing.assert_array_equal(labels, np.arange(80) % 10)  # 8 of each class
    assert fid._condition(SimpleNamespace(num_classes=None), 0, 16) is None
