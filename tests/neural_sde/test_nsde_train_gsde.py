"""Tiny training run of the GSDE on irregular sines (see nsde_helpers.py)."""

import pytest
from nsde_helpers import check_training


@pytest.mark.slow
def test_gsde_classifies_irregular_sines():
    check_training("gsde")
