"""Tiny training run of the LSDE on irregular sines (see nsde_helpers.py)."""

import pytest
from nsde_helpers import check_training


@pytest.mark.slow
def test_lsde_classifies_irregular_sines():
    check_training("lsde")
