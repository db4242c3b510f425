"""Tiny training run of the LSDE on irregular sines (see nsde_helpers.py)."""

from nsde_helpers import check_training


def test_lsde_classifies_irregular_sines():
    check_training("lsde")
