"""get_network registry and parameter summaries."""

import pytest
from flax import nnx

from diffax.nn import (CSDI, EGNN, DiT, MLP, NETWORKS, NeuralSDENetwork, PointTransformer,
                       UNet, UNet1D, count_params, get_network, param_summary)


def test_registry_names():
    assert NETWORKS == {"mlp": MLP, "unet": UNet, "dit": DiT, "csdi": CSDI, "unet1d": UNet1D,
                        "egnn": EGNN, "point_transformer": PointTransformer,
                        "stable_neural_sde": NeuralSDENetwork}
    with pytest.raises(ValueError, match=r"'resnet'.*\['csdi', 'dit', 'egnn', 'mlp', "
                                         r"'point_transformer', 'stable_neural_sde', 'unet', "
                                         r"'unet1d'\]"):
        get_network("resnet", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"network 'mlp': unknown option\(s\) \['hiden'\] "
                                         r"\(did you mean 'hidden'\?\); valid options: \["):
        get_network("mlp", data_dim=2, hiden=8, rngs=nnx.Rngs(0))


def test_param_summary_parts_add_up():
    net = get_network("unet", in_channels=1, channels=8, channel_mult=(1, 2), rngs=nnx.Rngs(0))
    summary = param_summary(net)
    head, parts = summary.split(": ", 1)
    assert head == f"{count_params(net):,} params ({count_params(net) / 1e6:.2f}M)"
    sizes = {name: int(n.replace(",", "")) for name, n in (p.rsplit(" ", 1) for p in parts.split(", "))}
    assert {"time_embed", "conv_in", "down", "mid1", "mid2", "up", "norm_out", "conv_out"} == set(sizes)
    assert sum(sizes.values()) == count_params(net)
    assert sizes["conv_in"] == 3 * 3 * 1 * 8 + 8
