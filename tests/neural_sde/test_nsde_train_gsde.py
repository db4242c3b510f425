"""Tiny training run of the GSDE on irregular sines (see nsde_helpers.py)."""

from nsde_helpers import check_training


def test_gsde_classifies_irregular_sines():
    check_training("gsde")
