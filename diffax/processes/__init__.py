"""Forward corruption processes.

Gaussian processes share one interface (:class:`GaussianProcess`): alpha(t),
sigma(t), log-SNR and its inverse, SDE drift/diffusion, probability-flow ODE,
perturbation kernel and prior. PFGM++ (:mod:`diffax.processes.pfgmpp`) has its own
heavy-tailed kernel.
"""

from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.processes.edm import EDM, karras_sigmas
from diffax.processes.pfgmpp import PFGMPP
from diffax.processes.rectified_flow import RectifiedFlow
from diffax.processes.sub_vp import SubVP
from diffax.processes.ve import VE
from diffax.processes.vp import DiscreteDDPM, VPCosine, VPLinear, VPProcess

PROCESSES = {
    "vp_linear": VPLinear,
    "vp_cosine": VPCosine,
    "ddpm_discrete": DiscreteDDPM.linear,
    "sub_vp": SubVP,
    "ve": VE,
    "edm": EDM,
    "rectified_flow": RectifiedFlow,
}


def get_process(name: str, **kwargs) -> GaussianProcess:
    """Build a Gaussian process by name (for configs); kwargs go to its constructor."""
    if name not in PROCESSES:
        raise ValueError(f"unknown process {name!r}; valid choices: {sorted(PROCESSES)}.")
    return PROCESSES[name](**kwargs)


__all__ = [
    "GaussianProcess", "VPProcess", "VPLinear", "VPCosine", "DiscreteDDPM", "SubVP", "VE",
    "EDM", "RectifiedFlow", "karras_sigmas", "broadcast_to_x", "get_process", "PROCESSES",
    "PFGMPP",
]
