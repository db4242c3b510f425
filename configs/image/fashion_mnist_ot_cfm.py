"""Fashion-MNIST by OT-CFM (Tong et al. 2023; Pooladian et al. 2023): flow matching on the
rectified-flow interpolant with each batch's noise paired to its images by the exact
minibatch optimal-transport assignment (``objective.name = "ot_cfm"``,
``diffax.objectives.couplings``), so the learned paths are straighter and few Euler steps
suffice. Otherwise ``fashion_mnist_flow_matching.py``. The assignment is O(B^3) on the
global batch: keep ``data.batch_size`` at a few hundred at most."""

from configs.image import fashion_mnist_flow_matching


def get_config():
    c = fashion_mnist_flow_matching.get_config()
    c.objective.name = "ot_cfm"
    c.eval.nfes = (1, 2, 4, 8)
    return c
