"""Forward corruption processes.

Every process follows the minimal :class:`~diffax.processes.protocol.Process` protocol
(time range, marginal sample, prior sample and prior log-density, family).

* Family ``"gaussian"``: :class:`GaussianProcess` (alpha(t), sigma(t), log-SNR and its
  inverse, SDE drift/diffusion, probability-flow ODE, perturbation kernel and prior):
  VP linear/cosine, discrete DDPM, sub-VP, VE, EDM, rectified flow, EDM's (Hoogeboom
  et al. 2022) polynomial schedule for molecules.
* Family ``"pfgmpp"``: PFGM++ (:mod:`diffax.processes.pfgmpp`), its own heavy-tailed
  kernel, registered as ``"pfgmpp"`` (options ``D``, ``data_dim``); trained by the
  ``"pfgmpp"`` objective and loss, sampled by ``"pfgmpp_heun"``.

Code that needs Gaussian processes iterates ``PROCESSES.names(GAUSSIAN)``.

:data:`PROCESSES` is a :class:`~diffax.registry.Registry` recording each entry's family;
:func:`get_process` builds one by name with its options checked.
"""

from typing import Any

from diffax.processes.base import GaussianProcess, broadcast_to_x
from diffax.processes.edm import EDM, karras_sigmas
from diffax.processes.pfgmpp import PFGMPP
from diffax.processes.polynomial import EDMPolynomial
from diffax.processes.protocol import (DISCRETE, FAMILIES, GAUSSIAN, PFGMPP_FAMILY, Process,
                                       family_of)
from diffax.processes.rectified_flow import RectifiedFlow
from diffax.processes.sub_vp import SubVP
from diffax.processes.ve import VE
from diffax.processes.vp import DiscreteDDPM, VPCosine, VPLinear, VPProcess
from diffax.registry import Registry

PROCESSES: Registry = Registry("process")
PROCESSES.add("vp_linear", VPLinear, family=GAUSSIAN)
PROCESSES.add("vp_cosine", VPCosine, family=GAUSSIAN)
PROCESSES.add("ddpm_discrete", DiscreteDDPM.linear, family=GAUSSIAN)
PROCESSES.add("sub_vp", SubVP, family=GAUSSIAN)
PROCESSES.add("ve", VE, family=GAUSSIAN)
PROCESSES.add("edm", EDM, family=GAUSSIAN)
PROCESSES.add("rectified_flow", RectifiedFlow, family=GAUSSIAN)
PROCESSES.add("vp_polynomial", EDMPolynomial, family=GAUSSIAN)
PROCESSES.add("pfgmpp", PFGMPP, family=PFGMPP_FAMILY)


def get_process(name: str, **options: Any) -> Process:
    """Build the process ``name`` (for configs); ``options`` go to its constructor.

    Raises:
      ValueError: unknown name (with the valid choices) or unknown option (with the
        valid options), or a bad option value.
    """
    return PROCESSES.build(name, **options)


__all__ = [
    "DISCRETE", "FAMILIES", "GAUSSIAN", "PFGMPP_FAMILY", "Process", "family_of",
    "GaussianProcess", "VPProcess", "VPLinear", "VPCosine", "DiscreteDDPM", "SubVP", "VE",
    "EDM", "RectifiedFlow", "karras_sigmas", "broadcast_to_x", "get_process", "PROCESSES",
    "PFGMPP", "EDMPolynomial",
]
