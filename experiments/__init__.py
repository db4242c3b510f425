"""Experiment entry points (the library in diffax/ knows nothing of these)."""
