"""SMPL motion imitation on complex terrain (ProtoMotions' ``mimic/mlp_complex_terrain.py``).

Identical to :mod:`training.experiments.mimic.mlp` except for two things: the terrain is the
7×7 heightfield of slopes, stairs and obstacles, and actor and critic also observe a 16×16
height map around the pelvis (1003 → 1259 inputs).
"""

from __future__ import annotations

from training.config import ExperimentConfig
from training.experiments.mimic.mlp import build_config as build_flat_config


def build_config() -> ExperimentConfig:
    config = build_flat_config()
    config.env.terrain.kind = "complex"
    config.env.observations.terrain_obs = True
    return config
