"""host_arrays on 8 simulated devices: row padding, placement of global and host-local
rows along "data" (over "data" only on a data x model mesh), and the way back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from diffax import training
from diffax.training import host_arrays


def mesh_2d(data=4, model=2):
    devices = np.asarray(jax.devices()[:data * model]).reshape(data, model)
    return Mesh(devices, ("data", "model"), axis_types=(AxisType.Auto, AxisType.Auto))


def shard_rows(arr: jax.Array) -> dict:
    """device -> (first row, stop row, values) of each addressable shard."""
    return {s.device: (s.index[0].start or 0, s.index[0].stop or arr.shape[0],
                       np.asarray(s.data)) for s in arr.addressable_shards}


@pytest.mark.parametrize("n, padded", [(8, 8), (13, 16), (1, 8), (16, 16), (17, 24)])
def test_padded_count(n, padded):
    assert host_arrays.padded_count(n, training.make_mesh()) == padded
    assert host_arrays.padded_count(n, training.make_mesh(jax.devices()[:1])) == n
    assert host_arrays.padded_count(n, mesh_2d()) == -(-n // 4) * 4  # "data" only


def test_bad_counts_and_meshes_raise():
    mesh = training.make_mesh()
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match=f"positive integer, got {bad}"):
            host_arrays.padded_count(bad, mesh)
    other = Mesh(np.asarray(jax.devices()), ("batch",))
    with pytest.raises(ValueError, match="no 'data' axis"):
        host_arrays.data_size(other)
    with pytest.raises(ValueError, match="total=2 is below the 3 rows"):
        host_arrays.pad_rows(np.zeros((3, 1)), 2)
    with pytest.raises(ValueError, match="scalar"):
        host_arrays.global_rows({"s": np.float32(1.0)}, mesh)


def test_pad_rows_repeats_the_last_row_numpy_and_jax():
    x = np.arange(6.0).reshape(3, 2)
    out = host_arrays.pad_rows(x, 5)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.concatenate([x, x[[2, 2]]]))
    traj = np.arange(24.0).reshape(2, 3, 4)  # rows on axis 1
    got = jax.jit(lambda a: host_arrays.pad_rows(a, 4, axis=1))(jnp.asarray(traj))
    np.testing.assert_array_equal(got, np.concatenate([traj, traj[:, 2:3]], axis=1))
    assert host_arrays.pad_rows(x, 3) is x


@pytest.mark.parametrize("n", [8, 13, 1])
def test_global_rows_split_exactly_over_the_devices(n):
    mesh = training.make_mesh()
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    label = np.arange(n, dtype=np.int32)
    placed = host_arrays.global_rows({"x": x, "label": label}, mesh)
    padded = host_arrays.padded_count(n, mesh)
    want = host_arrays.pad_rows(x, padded)
    for name, arr in placed.items():
        assert arr.shape[0] == padded and arr.sharding.spec == P("data"), name
    shards = shard_rows(placed["x"])
    assert len(shards) == 8
    per = padded // 8
    # device i of the mesh holds rows i*per .. (i+1)*per - 1: no gaps, no overlaps
    for i, device in enumerate(mesh.devices.ravel()):
        start, stop, values = shards[device]
        assert (start, stop) == (i * per, (i + 1) * per)
        np.testing.assert_array_equal(values, want[start:stop])
    np.testing.assert_array_equal(host_arrays.to_host(placed["label"])[:n], label)


def test_rows_go_over_data_only_on_a_data_x_model_mesh():
    mesh = mesh_2d()
    x = np.arange(13 * 2, dtype=np.float32).reshape(13, 2)
    arr = host_arrays.global_rows(x, mesh)
    assert arr.shape == (16, 2) and arr.sharding.spec == P("data")
    for device, (start, stop, values) in shard_rows(arr).items():
        i = int(np.argwhere(mesh.devices == device)[0][0])  # its "data" coordinate
        assert (start, stop) == (4 * i, 4 * i + 4)  # both "model" devices hold the rows
        np.testing.assert_array_equal(values, host_arrays.pad_rows(x, 16)[start:stop])
    traj = host_arrays.rows_sharding(mesh, axis=1)
    assert traj.spec == P(None, "data")


def test_local_rows_shard_when_the_count_splits_and_replicate_otherwise():
    mesh = training.make_mesh()
    rows = {"x": np.arange(16.0).reshape(8, 2)}
    placed = host_arrays.local_rows(rows, mesh)["x"]
    assert placed.sharding.spec == P("data")
    assert {s.data.shape for s in placed.addressable_shards} == {(1, 2)}
    np.testing.assert_array_equal(host_arrays.to_host(placed), rows["x"])
    odd = {"x": np.arange(10.0).reshape(5, 2)}  # 5 rows do not split over 8 devices
    placed = host_arrays.local_rows(odd, mesh)["x"]
    assert placed.sharding.is_fully_replicated
    np.testing.assert_array_equal(host_arrays.to_host(placed), odd["x"])
    assert host_arrays.local_rows({}, mesh) == {}


def test_on_mesh_keeps_placed_leaves_and_mesh_of_finds_the_mesh():
    mesh = training.make_mesh()
    on = training.replicate(jnp.ones(3), mesh)
    split = jax.device_put(jnp.arange(8.0), NamedSharding(mesh, P("data")))
    elsewhere = jax.device_put(jnp.zeros(2), jax.devices()[3])
    out = host_arrays.on_mesh({"a": on, "b": split, "c": elsewhere, "d": np.ones(2)}, mesh)
    assert out["a"] is on and out["b"] is split  # sharded leaves (FSDP) stay sharded
    for k in ("c", "d"):
        assert out[k].sharding == training.sharding.replicated(mesh), k
    one = training.make_mesh(jax.devices()[:1])
    assert host_arrays.mesh_of({"w": training.replicate(jnp.ones(2), one)}) == one
    assert host_arrays.mesh_of({"w": np.ones(2)}) == mesh  # default: every device


def test_to_host_gives_numpy_of_the_global_value():
    mesh = training.make_mesh()
    arr = host_arrays.global_rows(np.arange(8.0), mesh)
    out = host_arrays.to_host({"a": arr, "s": jnp.float32(2.0)})
    assert isinstance(out["a"], np.ndarray) and isinstance(out["s"], np.ndarray)
    np.testing.assert_array_equal(out["a"], np.arange(8.0))
    assert out["s"] == 2.0
