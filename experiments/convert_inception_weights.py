r"""Convert pytorch-fid's Inception weights into the npz that diffax.features.inception_v3 loads.

diffax does not ship or download Inception weights. On a machine with internet, get the
FID Inception weights used by pytorch-fid (a PyTorch port of the TensorFlow FID graph of
2015-12-05):

    wget https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

then, with torch installed (only this script needs it):

    python -m experiments.convert_inception_weights \
        --src pt_inception-2015-12-05-6726825d.pth --out inception_v3_fid.npz

``--src`` may also be an ``.npz`` holding the PyTorch state_dict arrays under their
PyTorch names (``np.savez(f, **{k: v.numpy() for k, v in sd.items()})``), so the
conversion itself needs no torch. The mapping (``convert_state_dict``) is:

* ``<block>.conv.weight`` (O, I, kh, kw) -> ``<block>/conv/kernel`` (kh, kw, I, O)
* ``<block>.bn.{weight, bias, running_mean, running_var}`` ->
  ``<block>/bn/{scale, bias, mean, var}``
* ``fc.weight`` (1008, 2048) -> ``fc/kernel`` (2048, 1008); ``fc.bias`` -> ``fc/bias``
* ``*.num_batches_tracked`` and torchvision's ``AuxLogits.*`` are dropped.

The output is checked against every key and shape of the flax network, and the script
prints its SHA-256 (record it next to any FID you report).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Mapping

import numpy as np

_BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}


def convert_key(key: str, value: np.ndarray) -> tuple[str, np.ndarray] | None:
    """One PyTorch state_dict entry -> (flat diffax key, array), or None if dropped."""
    parts = key.split(".")
    if parts[-1] == "num_batches_tracked" or parts[0] == "AuxLogits":
        return None
    value = np.asarray(value, np.float32)
    if parts[0] == "fc" and len(parts) == 2:
        if parts[1] == "weight":
            return "fc/kernel", value.T
        if parts[1] == "bias":
            return "fc/bias", value
    if len(parts) >= 3 and parts[-2] == "conv" and parts[-1] == "weight":
        if value.ndim != 4:
            raise ValueError(f"convert_inception_weights: {key} should be a 4-d convolution "
                             f"kernel (O, I, kh, kw), got shape {value.shape}.")
        return "/".join(parts[:-1]) + "/kernel", value.transpose(2, 3, 1, 0)
    if len(parts) >= 3 and parts[-2] == "bn" and parts[-1] in _BN_NAMES:
        return "/".join(parts[:-1]) + "/" + _BN_NAMES[parts[-1]], value
    raise ValueError(f"convert_inception_weights: unexpected state_dict key {key!r}; expected "
                     "'<block>.conv.weight', '<block>.bn.{weight,bias,running_mean,"
                     "running_var}' or 'fc.{weight,bias}' (pytorch-fid / torchvision names).")


def convert_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A PyTorch Inception-v3 state_dict (numpy arrays) -> flat diffax parameters."""
    out = {}
    for key, value in state_dict.items():
        converted = convert_key(key, value)
        if converted is not None:
            out[converted[0]] = converted[1]
    return out


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """A state_dict from a PyTorch checkpoint (.pth/.pt, needs torch) or an npz."""
    if path.endswith(".npz"):
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    try:
        import torch
    except ImportError as e:
        raise SystemExit(
            f"reading {path!r} needs torch (pip install torch), or save the state_dict as "
            "an npz elsewhere: np.savez('sd.npz', **{k: v.numpy() for k, v in "
            "torch.load(path).items()}) and pass --src sd.npz.") from e
    sd = torch.load(path, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    return {k: v.detach().cpu().numpy() for k, v in sd.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True, help="pytorch-fid .pth, or an npz state_dict")
    parser.add_argument("--out", required=True, help="output npz for diffax")
    args = parser.parse_args(argv)
    from diffax.features import inception_v3

    params = convert_state_dict(read_state_dict(args.src))
    inception_v3.model_from_params(params)      # checks every key and shape
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez(args.out, **params)
    record = {"src": os.path.abspath(args.src), "out": os.path.abspath(args.out),
              "num_arrays": len(params), "sha256": inception_v3.sha256(args.out)}
    print(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
