"""Environments: the mimic task and its observation/reward kernels."""
