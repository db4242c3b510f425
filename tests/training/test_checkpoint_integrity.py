"""Checkpoint integrity (issue 15.2): a damaged newest checkpoint (flipped bytes, a
truncated or a deleted data file) is detected on restore, skipped with a warning naming
it and the step used, moved aside (not deleted), and the resumed run ends with the same
parameters as an uninterrupted one. With no intact checkpoint left, the error says so."""

import os
import warnings

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from toy_task import batch_fn, build

from diffax import training as tr

STEPS, SAVE_EVERY = 16, 4


def leaves(state):
    return jax.tree.leaves(jax.device_get((state.params, state.ema, state.opt_state,
                                           state.step, state.rng)))


@pytest.fixture(scope="module")
def uninterrupted():
    mesh = tr.make_mesh()
    step, state, _ = build(mesh, num_steps=STEPS)
    return leaves(tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=STEPS, progress=False))


def data_files(step_dir):
    """The array-data files a restore reads for one step, largest first: orbax merges each
    process's OCDBT files into ``default/d/`` when it finalises a step (the per-process
    copies under ``ocdbt.process_*/`` are not read again)."""
    d = os.path.join(step_dir, "default", "d")
    files = [os.path.join(d, f) for f in os.listdir(d)]
    assert files, f"no data files under {d}"
    return sorted(files, key=os.path.getsize, reverse=True)


def flip_bytes(path):
    data = bytearray(open(path, "rb").read())
    mid = len(data) // 2
    for i in range(mid, min(mid + 64, len(data))):
        data[i] ^= 0xFF
    open(path, "wb").write(bytes(data))


def truncate(path):
    os.truncate(path, os.path.getsize(path) // 2)


def delete(path):
    os.remove(path)


def train_to(workdir, num_steps):
    mesh = tr.make_mesh()
    step, state, _ = build(mesh, num_steps=STEPS)
    ckpt = tr.Checkpointer(str(workdir), save_every=SAVE_EVERY, max_to_keep=3, async_save=False)
    tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=num_steps, checkpointer=ckpt,
           progress=False)
    ckpt.close()


@pytest.mark.parametrize("damage", [flip_bytes, truncate, delete])
def test_damaged_newest_checkpoint_falls_back_and_resumes_exactly(tmp_path, uninterrupted,
                                                                   damage):
    train_to(tmp_path, 12)  # steps 4, 8, 12 on disk
    victim = data_files(tmp_path / "12")[0]
    rel = os.path.relpath(victim, tmp_path / "12")
    damage(victim)

    mesh = tr.make_mesh()
    step, fresh, _ = build(mesh, num_steps=STEPS)
    ckpt = tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, max_to_keep=3,
                           async_save=False)
    with pytest.warns(UserWarning, match=r"step 12 .*Resuming from step 8"):
        state = ckpt.restore(fresh)
    assert int(state.step) == 8
    moved = [d for d in os.listdir(tmp_path) if d.startswith("corrupt-12-")]
    assert len(moved) == 1, os.listdir(tmp_path)
    if damage is not delete:  # kept for inspection, never deleted
        assert os.path.exists(tmp_path / moved[0] / rel)
    state = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=STEPS, checkpointer=ckpt,
                   progress=False)
    ckpt.close()
    assert ckpt.all_steps() == [8, 12, 16]
    # the same compiled step on the same machine and inputs: bitwise equality is expected
    for got, want in zip(leaves(state), uninterrupted, strict=True):
        np.testing.assert_array_equal(got, want)


def test_no_intact_checkpoint_raises_and_deletes_nothing(tmp_path):
    train_to(tmp_path, 8)  # steps 4, 8
    for s in ("4", "8"):
        flip_bytes(data_files(tmp_path / s)[0])
    before = sorted(os.listdir(tmp_path))
    mesh = tr.make_mesh()
    _, fresh, _ = build(mesh, num_steps=STEPS)
    ckpt = tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, async_save=False)
    with pytest.raises(tr.CorruptCheckpointError, match=r"no intact checkpoint.*step 8.*step 4"):
        ckpt.restore(fresh)
    ckpt.close()
    assert sorted(os.listdir(tmp_path)) == before


def test_explicit_step_that_is_damaged_raises(tmp_path):
    train_to(tmp_path, 8)
    flip_bytes(data_files(tmp_path / "8")[0])
    mesh = tr.make_mesh()
    _, fresh, _ = build(mesh, num_steps=STEPS)
    with tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, async_save=False) as ckpt:
        with pytest.raises(tr.CorruptCheckpointError, match="step 8"):
            ckpt.restore(fresh, step=8)
        assert int(ckpt.restore(fresh, step=4).step) == 4


def test_state_digest_changes_with_any_value():
    mesh = tr.make_mesh()
    _, state, _ = build(mesh, num_steps=STEPS)
    digest = tr.state_digest(state)
    # one entry per leaf: the states are replicated, so one shard each (replica 0)
    assert len(digest) == len(jax.tree.leaves(state))
    bumped = state.replace(rng=state.rng.at[0].add(1))
    changed = [k for k, v in tr.state_digest(bumped).items() if digest[k] != v]
    assert changed == [k for k in digest if k.startswith(".rng@")]


def test_checkpoint_of_another_model_is_a_config_error(tmp_path):
    train_to(tmp_path, 4)
    mesh = tr.make_mesh()
    _, other, _ = build(mesh, num_steps=STEPS, ema_decays=())  # no EMA copy: other leaves
    with tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, async_save=False) as ckpt:
        with pytest.raises(tr.CheckpointMismatchError, match="does not fit"):
            ckpt.restore(other)
    assert sorted(os.listdir(tmp_path)) == ["4"]


def test_checkpoint_without_digest_restores_with_a_warning(tmp_path):
    """Checkpoints written before digests existed (one orbax item, ``default``)."""
    mesh = tr.make_mesh()
    _, state, _ = build(mesh, num_steps=STEPS)
    with ocp.CheckpointManager(str(tmp_path)) as legacy:
        legacy.save(3, args=ocp.args.StandardSave(state))
        legacy.wait_until_finished()
    _, fresh, _ = build(mesh, num_steps=STEPS, seed=1)
    with tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, async_save=False) as ckpt:
        with pytest.warns(UserWarning, match="no digest"):
            restored = ckpt.restore(fresh)
    with warnings.catch_warnings():
        for got, want in zip(leaves(restored), leaves(state), strict=True):
            np.testing.assert_array_equal(got, want)


def test_silently_altered_values_fail_the_digest(tmp_path, monkeypatch):
    """orbax restores altered bytes of an uncompressed chunk without an error (STACK.md);
    the digest must catch values that differ from those saved."""
    train_to(tmp_path, 8)
    mesh = tr.make_mesh()
    _, fresh, _ = build(mesh, num_steps=STEPS)
    ckpt = tr.Checkpointer(str(tmp_path), save_every=SAVE_EVERY, async_save=False)
    real_restore = ckpt.manager.restore

    def restore_with_a_flipped_bit(step, args=None):
        out = real_restore(step, args=args)
        state = out["default"]
        if step == 8:
            state = state.replace(rng=state.rng ^ np.uint32(1))
        return {"default": state, "digest": out["digest"]}

    monkeypatch.setattr(ckpt.manager, "restore", restore_with_a_flipped_bit)
    with pytest.warns(UserWarning, match=r"step 8 \(CorruptCheckpointError: digest mismatch "
                                         r"in 1 shard.*\.rng@"):
        state = ckpt.restore(fresh)
    ckpt.close()
    assert int(state.step) == 4
