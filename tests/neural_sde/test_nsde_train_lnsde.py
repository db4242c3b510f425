"""Tiny training run of the LNSDE on irregular sines (see nsde_helpers.py)."""

from nsde_helpers import check_training


def test_lnsde_classifies_irregular_sines():
    check_training("lnsde")
