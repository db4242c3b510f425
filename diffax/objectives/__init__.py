"""Training objectives (``init / loss / update``, see ``diffax.training.objective``) and
the batch transforms they use.

* :func:`denoising_objective`: one network trained as a diffusion model (every loss of
  ``diffax.losses``).
* :func:`label_dropout`: the classifier-free-guidance batch transform.
* :mod:`.progressive_distillation`: progressive distillation
  (``progressive_distillation``, v-parameterization, step halving).
* :mod:`.couplings`: minibatch OT couplings (``ot_cfm``) and Immiscible diffusion
  (``immiscible``: linear assignment or KNN noise).
* :mod:`.reflow`: k-rectified flow on a coupling buffer (``reflow``), straightness.
* :mod:`.instaflow`: one-step distillation of a coupling (``instaflow``), with SlimFlow's
  optional flow guidance.
* :mod:`.slimflow`: SlimFlow's annealing reflow (``slimflow_annealing_reflow``) and
  flow-guided distillation (``slimflow_distillation``); :mod:`.k_reflow`: k rounds of reflow.
* :mod:`.mmd_finetune`: MMD-DDM fine-tuning of a few-step sampler (``mmd_finetune``).
* :func:`consistency_training` / :func:`consistency_distillation`: consistency models
  (CT / iCT and CD; an EMA target network and a teacher in ``aux``).
* :mod:`.consistency_variants`: LCM skipping-step / guided distillation
  (``lcm_distillation``), SCott's stochastic teacher (``scott_distillation``), Hyper-SD's
  trajectory-segmented distillation (``hyper_sd_distillation``).
* :func:`pfgmpp_objective`: PFGM++ (Xu et al., 2023), the denoiser of the PFGM++ kernel
  (family ``"pfgmpp"``).

Objectives with a teacher, an EMA target or a coupling buffer (distillation, consistency,
reflow) are siblings of the denoising objective; the train step needs no change for them.
"""

from diffax.objectives.consistency import (
    ConsistencyObjective,
    consistency_distillation,
    consistency_model_fn,
    consistency_training,
)
from diffax.objectives.consistency_variants import (
    hyper_sd_distillation,
    lcm_distillation,
    scott_distillation,
)
from diffax.objectives.couplings import coupled_objective, ot_cfm_objective
from diffax.objectives.denoising import DenoisingObjective, denoising_objective, loss_options
from diffax.objectives.instaflow import one_step_distillation
from diffax.objectives.label_dropout import drop_labels, label_dropout
from diffax.objectives.mmd_finetune import mmd_finetune
from diffax.objectives.pfgmpp import PFGMPPObjective, pfgmpp_objective
from diffax.objectives.progressive_distillation import progressive_distillation_objective
from diffax.objectives.reflow import reflow_objective
from diffax.objectives.slimflow import annealing_reflow, flow_guided_distillation
from diffax.registry import Registry
from diffax.neural_sde.objective import neural_sde_objective

OBJECTIVES: Registry = Registry("objective")
OBJECTIVES.add("denoising", denoising_objective, family="gaussian")
OBJECTIVES.add("progressive_distillation", progressive_distillation_objective,
               family="gaussian")
OBJECTIVES.add("reflow", reflow_objective, family="gaussian")
OBJECTIVES.add("ot_cfm", ot_cfm_objective, family="gaussian")
OBJECTIVES.add("immiscible", coupled_objective, family="gaussian")
OBJECTIVES.add("instaflow", one_step_distillation, family="gaussian")
OBJECTIVES.add("slimflow_annealing_reflow", annealing_reflow, family="gaussian")
OBJECTIVES.add("slimflow_distillation", flow_guided_distillation, family="gaussian")
OBJECTIVES.add("mmd_finetune", mmd_finetune, family="gaussian")
OBJECTIVES.add("consistency_training", consistency_training, family="gaussian")
OBJECTIVES.add("consistency_distillation", consistency_distillation, family="gaussian")
OBJECTIVES.add("lcm_distillation", lcm_distillation, family="gaussian")
OBJECTIVES.add("scott_distillation", scott_distillation, family="gaussian")
OBJECTIVES.add("hyper_sd_distillation", hyper_sd_distillation, family="gaussian")
OBJECTIVES.add("pfgmpp", pfgmpp_objective, family="pfgmpp")
OBJECTIVES.add("neural_sde", neural_sde_objective)  # stable neural SDEs (any process)


def get_objective(name: str, *args, **kwargs):
    """Build the objective registered as ``name`` (options checked against its signature)."""
    return OBJECTIVES.build(name, *args, **kwargs)


__all__ = ["ConsistencyObjective", "DenoisingObjective", "OBJECTIVES", "consistency_distillation",
           "consistency_model_fn", "consistency_training", "denoising_objective", "drop_labels",
           "get_objective", "label_dropout", "loss_options", "PFGMPPObjective",
           "pfgmpp_objective"]
