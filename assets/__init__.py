"""Dagster assets of mimicflow: thin wrappers over the library the ``mimic`` CLI uses.

Loaded by the code location in :mod:`pipelines.definitions`.
"""
