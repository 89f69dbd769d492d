"""Experiment files: Python modules defining ``build_config() -> ExperimentConfig``.

They are loaded by path (:func:`training.experiment_loader.load_experiment`), as
``mimic train --experiment-path training/experiments/mimic/mlp.py`` does, so a copy kept
anywhere on disk works the same way.
"""
