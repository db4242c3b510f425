"""The point-cloud task end to end at toy size (train, sample, eval through the runner),
its metrics' exact identities and the data floor, and bad input."""

import json

import numpy as np
import pytest

from configs.pointcloud import shapes
from diffax.data import get_dataset
from diffax.data.pointcloud import to_evaluation_units
from experiments import runner
from experiments.tasks.pointcloud import PointCloudTask, generation_scores


def _tiny():
    c = shapes.get_config()
    c.data.kwargs = dict(num_points=32, num_per_class=8, num_eval_per_class=2)
    c.data.batch_size = 8
    c.model.kwargs = dict(hidden=16, depth=1, heads=2, mlp_ratio=1.0, time_scale=250.0)
    c.training.n_steps = 4
    c.training.log_every = 2
    c.training.ckpt_every = 4
    c.training.progress = False
    c.sampling.nfe = 4
    c.sampling.num_samples = 12
    c.sampling.grid_size = 12
    c.eval.nfes = (4,)
    c.eval.num_samples = 12            # 2 per class
    c.eval.num_batches = 1
    c.task.emd_points = 0
    return c


def test_metrics_of_the_data_against_itself():
    """Exact copies: MMD 0, COV 1, 1-NNA 0 (every cloud's nearest other is its copy)."""
    ref = get_dataset("pc:shapes", "test", num_points=32, num_per_class=2,
                      num_eval_per_class=3).points[:6]
    s = generation_scores(ref, ref, ref)
    for side in ("model", "data_floor"):
        # float32 Gram-expansion rounding of squared distances of unit-size clouds: ~1e-7
        assert s[side]["mmd_cd"] == pytest.approx(0, abs=1e-6)
        assert s[side]["mmd_emd"] == pytest.approx(0, abs=1e-6)
        assert s[side]["cov_cd"] == 1 and s[side]["cov_emd"] == 1
        assert s[side]["1nna_cd"] == 0 and s[side]["1nna_emd"] == 0


def test_config_sigma_data_is_the_std_of_the_model_space_clouds():
    """EDM's preconditioning and loss weight assume data of standard deviation sigma_data
    (Karras et al. 2022, eqs. 7-8). PointFlow's global normalisation divides by the std
    of all training coordinates around one mean, so the model-space clouds have std 1 up
    to the spread of the per-axis means (1 - std^2 = their variance / s^2, here < 1e-3).
    The config must say so: with sigma_data = 0.5 (the image default) the network's
    target at high noise, x0 / sigma_data, had variance 4 instead of 1."""
    c = shapes.get_config()
    train = get_dataset(c.data.name, "train", **c.data.kwargs)
    assert float(np.std(train.points)) == pytest.approx(c.model.sigma_data, abs=1e-3)


@pytest.mark.slow
def test_train_sample_eval_and_the_floor(tmp_path):
    config = _tiny()
    runner.train(config, str(tmp_path))
    x = runner.sample(config, str(tmp_path))
    assert x.shape == (12, 32, 3) and np.all(np.isfinite(x))
    png = tmp_path / "samples" / "dpm_solver++_2m_nfe4_step4.png"
    assert png.stat().st_size > 10_000
    results = runner.evaluate(config, str(tmp_path))
    assert json.loads((tmp_path / "metrics.json").read_text())["step"] == 4
    pc = results["samples"][0]["pointcloud"]
    assert set(pc["per_class"]) == {"sphere", "box", "cylinder", "cone", "torus", "capsule"}
    # the floor is the training clouds of the class against its held-out clouds, in data units
    train = get_dataset("pc:shapes", "train", **config.data.kwargs)
    test = get_dataset("pc:shapes", "test", **config.data.kwargs)
    k = 4                                                    # torus
    tr = train.denormalize(train.points[train.labels == k][:2])
    _, ref = to_evaluation_units(tr, test.points[test.labels == k], test.normalizer)
    want = generation_scores(tr, ref, emd="exact")["model"]
    got = pc["per_class"]["torus"]["data_floor"]
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key
    for side in ("model", "data_floor"):
        m = pc["mean_over_classes"][side]
        assert 0 <= m["cov_cd"] <= 1 and 0 <= m["1nna_emd"] <= 1 and m["mmd_cd"] > 0


def test_bad_input():
    config = _tiny()
    config.data.kwargs["num_points"] = 16
    task = PointCloudTask()
    ds = get_dataset("pc:shapes", "train", num_points=32, num_per_class=1)
    with pytest.raises(ValueError, match="num_points=16"):
        task.spec(config, ds, ds.get(np.arange(2)))
    config.data.kwargs["num_points"] = 32
    task.spec(config, ds, ds.get(np.arange(2)))
    with pytest.raises(ValueError, match="NaN"):
        task.extra_metrics(np.full((6, 32, 3), np.nan), {}, ds)
    with pytest.raises(ValueError, match="emd"):
        generation_scores(ds.points[:2], ds.points[:2], emd="approx")
