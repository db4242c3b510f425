"""Tasks: one file per kind of data (see :mod:`experiments.tasks.base`), chosen by
``config.task.name``; the runner, evaluation and training know no task."""

from diffax.registry import Registry
from experiments.tasks.anomaly import AnomalyTask
from experiments.tasks.base import ElementSpec, Task
from experiments.tasks.image import ImageTask
from experiments.tasks.pointcloud import PointCloudTask
from experiments.tasks.molecules import MoleculeTask
from experiments.tasks.neural_sde import NeuralSDETask
from experiments.tasks.timeseries import ForecastingTask, GenerationTask, ImputationTask
from experiments.tasks.vector import VectorTask

TASKS: Registry = Registry("task")
TASKS.add("image", ImageTask)
TASKS.add("vector", VectorTask)
TASKS.add("ts_imputation", ImputationTask)
TASKS.add("ts_forecasting", ForecastingTask)
TASKS.add("ts_generation", GenerationTask)
TASKS.add("ts_anomaly", AnomalyTask)
TASKS.add("pointcloud", PointCloudTask)
TASKS.add("molecules", MoleculeTask)
TASKS.add("ts_neural_sde", NeuralSDETask)


def get_task(name: str, config=None) -> Task:
    """A fresh instance of the task registered as ``name``, bound to the experiment's
    ``config`` (:attr:`Task.config`)."""
    return TASKS.get(name)(config)


__all__ = ["ElementSpec", "TASKS", "Task", "get_task"]
