"""Point-cloud sources: PointFlow's normalisation protocol, the registry entries, the
pyvista-wheel meshes (on a generated wheel-shaped zip) and the ShapeNet PC15k layout (on
generated files)."""

import zipfile

import numpy as np
import pytest
import trimesh

from diffax.data import get_dataset
from diffax.data.pointcloud import (PointCloudNormalizer, bounding_box_normalize, meshes,
                                    to_evaluation_units)
from diffax.data.pointcloud.shapenet import read_shapenet


def test_global_normalisation_uses_training_statistics():
    rng = np.random.default_rng(0)
    train = rng.normal([1.0, -2.0, 3.0], 2.0, size=(5, 100, 3))
    norm = PointCloudNormalizer.fit(train, "global")
    np.testing.assert_allclose(norm.mean.ravel(), train.reshape(-1, 3).mean(0))
    # PointFlow's scalar std: of all coordinates flattened together, around their one mean
    # (so it includes the spread between the axis means)
    np.testing.assert_allclose(norm.std.ravel(), [train.std()])
    z = norm.normalize(train)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(), (train - norm.mean).std() / train.std())
    np.testing.assert_allclose(norm.denormalize(z), train)
    per_axis = PointCloudNormalizer.fit(train, "global", std_per_axis=True)
    np.testing.assert_allclose(per_axis.normalize(train).reshape(-1, 3).std(0), 1.0)
    # the test split is scaled with the training statistics (its own mean stays off 0)
    ds = get_dataset("pc:shapes", "test", num_points=32, num_per_class=4, num_eval_per_class=2,
                     scale=(2.0, 2.0))
    tr = get_dataset("pc:shapes", "train", num_points=32, num_per_class=4, scale=(2.0, 2.0))
    np.testing.assert_array_equal(ds.normalizer.mean, tr.normalizer.mean)
    raw = tr.denormalize(tr.points)
    np.testing.assert_allclose(tr.normalizer.std.ravel(), [raw.std()], rtol=1e-5)


def test_per_shape_normalisation_and_evaluation_units():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(4, 50, 3)) * [[[1.0]], [[2.0]], [[3.0]], [[4.0]]] + 5.0
    norm = PointCloudNormalizer.fit(ref, "per_shape")
    z = norm.normalize(ref)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(norm.std.ravel(), ref.reshape(4, -1).std(1))
    gen = rng.normal(size=(3, 50, 3))
    g, r = to_evaluation_units(gen, z, norm)     # sample i takes reference i's statistics
    np.testing.assert_allclose(r, ref)
    np.testing.assert_allclose(g, gen * norm.std[:3] + norm.mean[:3])
    with pytest.raises(ValueError, match="no more generated"):
        to_evaluation_units(rng.normal(size=(5, 50, 3)), z, norm)
    box = bounding_box_normalize(ref)
    np.testing.assert_allclose(np.abs(box).max((1, 2)), 1.0)


@pytest.mark.parametrize("points, match", [
    (np.zeros((0, 10, 3)), "empty"),
    (np.zeros((2, 10, 2)), "shape"),
    (np.full((2, 10, 3), np.nan), "NaN"),
    (np.ones((2, 10, 3)), "standard deviation is 0"),
])
def test_normaliser_rejects_bad_sets(points, match):
    with pytest.raises(ValueError, match=match):
        PointCloudNormalizer.fit(points, "global")


def test_registry_names_and_options():
    ds = get_dataset("pc:shapes", "train", num_points=16, num_per_class=2, classes=("box",
                                                                                     "torus"))
    assert ds.shape == (16, 3) and ds.num_classes == 2 and ds.class_names == ("box", "torus")
    batch = ds.get(np.array([0, 3]))
    assert batch["x"].dtype == np.float32 and batch["label"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="normalization"):
        get_dataset("pc:shapes", num_points=8, num_per_class=1, normalization="minmax")
    with pytest.raises(ValueError, match="num_point"):
        get_dataset("pc:shapes", num_point=8)


def _ply(mesh) -> bytes:
    return trimesh.exchange.ply.export_ply(mesh)


def test_meshes_are_area_sampled_from_a_wheel_zip(tmp_path):
    """A generated zip laid out like the pyvista wheel (a 4 x 2 x 1 box in place of each
    mesh): points lie on the normalised box, a face's share is its share of the area."""
    box = trimesh.creation.box(extents=(4.0, 2.0, 1.0))
    box.apply_translation((10.0, 0, 0))
    with zipfile.ZipFile(tmp_path / meshes.WHEEL, "w") as z:
        for member in meshes.MESHES.values():
            z.writestr(member, _ply(box))
    mesh = meshes.read_wheel_meshes(["nut"], tmp_path)["nut"]
    np.testing.assert_allclose(mesh.bounds, [[-1, -0.5, -0.25], [1, 0.5, 0.25]], atol=1e-6)
    pts = meshes.sample_mesh(mesh, 20_000, np.random.default_rng(0))
    on_x = np.isclose(np.abs(pts[:, 0]), 1.0)
    frac = (0.5 * 1.0 * 2) / (2 * (0.5 + 1.0 + 2.0))   # the two x faces (1 x 0.5 each)
    assert abs(on_x.mean() - frac) < 5 * np.sqrt(frac * (1 - frac) / 20_000)
    ds = get_dataset("pc:meshes", "test", num_points=64, num_per_mesh=2, num_eval_per_mesh=3,
                     meshes=("ant", "nut"), data_dir=str(tmp_path))
    assert ds.num_examples == 6 and ds.class_names == ("ant", "nut")
    again = get_dataset("pc:meshes", "test", num_points=64, num_per_mesh=2,
                        num_eval_per_mesh=3, meshes=("ant", "nut"), data_dir=str(tmp_path))
    np.testing.assert_array_equal(ds.points, again.points)
    with pytest.raises(FileNotFoundError, match="make data"):
        meshes.wheel_path(tmp_path / "missing")
    with pytest.raises(ValueError, match="teapot"):
        meshes.read_wheel_meshes(["teapot"], tmp_path)


def _write_pc15k(root, synset, split, n, seed):
    folder = root / synset / split
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        np.save(folder / f"model{i:03d}.npy", rng.normal(size=(15000, 3)).astype(np.float32))


def test_shapenet_pc15k_layout(tmp_path):
    _write_pc15k(tmp_path, "02691156", "train", 3, 0)
    _write_pc15k(tmp_path, "02691156", "val", 2, 1)
    _write_pc15k(tmp_path, "03001627", "train", 2, 2)
    pts, labels, names = read_shapenet(tmp_path, "train", ["airplane", "03001627"], 128)
    assert pts.shape == (5, 128, 3) and labels.tolist() == [0, 0, 0, 1, 1]
    first = np.load(tmp_path / "02691156" / "train" / "model000.npy")
    # training points come from a file's first 10,000 points, evaluation points from the rest
    assert np.isin(pts[0], first[:10000]).all(axis=1).all()
    val, _, _ = read_shapenet(tmp_path, "val", ["airplane"], 100)
    v0 = np.load(tmp_path / "02691156" / "val" / "model000.npy")
    np.testing.assert_array_equal(val[0], v0[10000:10100])
    ds = get_dataset("pc:shapenet", "val", data_dir=str(tmp_path), num_points=100)
    tr = get_dataset("pc:shapenet", "train", data_dir=str(tmp_path), num_points=100)
    np.testing.assert_array_equal(ds.normalizer.mean, tr.normalizer.mean)
    with pytest.raises(FileNotFoundError, match="docs/pointcloud.md"):
        read_shapenet(tmp_path / "nowhere", "train", ["airplane"], 10)
    with pytest.raises(FileNotFoundError, match="03001627"):
        read_shapenet(tmp_path, "val", ["chair"], 10)
    with pytest.raises(ValueError, match="5000"):
        read_shapenet(tmp_path, "val", ["airplane"], 6000)
    bad = tmp_path / "04379243" / "train"
    bad.mkdir(parents=True)
    np.save(bad / "x.npy", np.full((15000, 3), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        read_shapenet(tmp_path, "train", ["table"], 10)
