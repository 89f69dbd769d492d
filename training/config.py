"""The typed experiment configuration: simulator, environment, rewards, terrain and agent.

Experiment files (``training/experiments/mimic/*.py``) build an :class:`ExperimentConfig`;
``--overrides key.path=value`` then sets any field with type checking
(:mod:`training.overrides`). Defaults are ProtoMotions' SMPL mimic defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from training.ppo.config import PPOConfig


@dataclass
class RewardTerm:
    """One reward term: ``weight · kernel``; ``coefficient`` is the kernel's exp scale (if any)."""

    weight: float
    coefficient: float = 0.0
    min_value: float = float("-inf")  # clamp of the weighted term


@dataclass
class RewardConfig:
    gt_rew: RewardTerm = field(default_factory=lambda: RewardTerm(0.5, -25.0))  # global positions
    gr_rew: RewardTerm = field(default_factory=lambda: RewardTerm(0.3, -5.0))  # global rotations
    gv_rew: RewardTerm = field(default_factory=lambda: RewardTerm(0.1, -0.5))  # linear velocities
    gav_rew: RewardTerm = field(default_factory=lambda: RewardTerm(0.2, -0.1))  # angular velocities
    rh_rew: RewardTerm = field(default_factory=lambda: RewardTerm(0.2, -100.0))  # pelvis height
    action_smoothness: RewardTerm = field(default_factory=lambda: RewardTerm(-0.02))
    pow_rew: RewardTerm = field(default_factory=lambda: RewardTerm(-1e-5, min_value=-0.5))
    contact_match_rew: RewardTerm = field(default_factory=lambda: RewardTerm(-0.1))


@dataclass
class TerrainConfig:
    kind: str = "flat"  # "flat" or "complex"
    num_levels: int = 7  # rows, difficulty = row / num_levels
    num_terrains: int = 7  # columns
    map_length: float = 20.0  # m
    map_width: float = 20.0  # m
    border_size: float = 40.0  # m
    horizontal_scale: float = 0.1  # m per heightfield cell
    vertical_scale: float = 0.005  # m per height unit
    slope_threshold: float = 0.9
    # smooth slope, rough slope, stairs (negative step height), stairs (positive), discrete obstacles,
    # stepping stones, poles, flat — in ProtoMotions' slot order
    proportions: List[float] = field(default_factory=lambda: [0.2, 0.1, 0.1, 0.1, 0.05, 0.0, 0.0, 0.45])
    step_width: float = 0.31  # m
    platform_size: float = 3.0  # m
    seed: int = 0


@dataclass
class ObservationConfig:
    future_steps: int = 1  # reference frames at t + k·dt, k = 1..future_steps
    terrain_obs: bool = False
    terrain_obs_points: int = 16  # per axis
    terrain_obs_extent: float = 1.0  # ± metres around the pelvis


@dataclass
class EnvConfig:
    max_episode_length: int = 1000  # control steps
    physics_hz: float = 120.0
    decimation: int = 4  # → 30 Hz control
    ref_respawn_offset: float = 0.05  # m above the terrain at reset
    init_start_prob: float = 0.2  # probability of starting a motion at t = 0
    enable_termination: bool = True
    termination_distance: float = 0.5  # m, any body from its reference
    ref_contact_smooth_window: int = 7  # frames
    reset_grace_period: int = 5  # steps without contact-match penalty
    # How raw actions a become PD targets (training.envs.mimic_env.ACTION_MODES):
    #   "absolute" (ProtoMotions): target = action_scale · tanh(a), or the robot's per-DoF offset/scale;
    #   "residual": target = reference joint angles at t + dt + residual_action_scale · tanh(a).
    action_mode: str = "absolute"
    action_scale: float = 3.141592653589793  # rad, "absolute" mode
    residual_action_scale: float = 0.5  # rad, "residual" mode: the largest correction of a joint
    # "residual" mode: lead the reference angles by (kd / kp) · reference joint rate. The PD's
    # damping acts against the joint's absolute rate, so a joint following the reference at rate
    # v settles (kd / kp) · v behind a target placed on it (0.1 s for every SMPL joint).
    residual_velocity_feedforward: bool = False
    # The root velocities a reset gives the humanoid (training.envs.start_states):
    #   "motion_lib" (ProtoMotions): the MotionLib's gvs/gavs, which its conversion stores per body
    #     as the smallest forward difference over 1-3 frames, so not the skeleton's motion;
    #   "finite_difference": one-frame differences of the reference root's position and rotation
    #     around the start time, consistent with the joint rates (also one-frame differences).
    reset_root_velocity: str = "motion_lib"
    # Starts where episodes fail: with this probability a reset draws its start time from the
    # drawn motion's recent failure times (kept in bins of failure_start_bin s, forgotten with
    # factor failure_memory per env step), failure_start_lead s before the failure.
    failure_start_prob: float = 0.0
    failure_start_bin: float = 0.5  # s
    failure_start_lead: float = 1.0  # s
    failure_memory: float = 0.999  # per env step: 1/e after 1,000 steps
    reward_config: RewardConfig = field(default_factory=RewardConfig)
    terrain: TerrainConfig = field(default_factory=TerrainConfig)
    observations: ObservationConfig = field(default_factory=ObservationConfig)


@dataclass
class ExperimentConfig:
    experiment_name: str = "mimic"
    robot_name: str = "smpl"
    # MJCF of a file-based robot (g1); "" = $MIMIC_G1_XML, else the mujoco-menagerie package's model.
    robot_xml: str = ""
    simulator: str = "mujoco"
    # Where simulator, env, MotionLib and networks live: "auto" (GPU simulators on this rank's GPU
    # when there is one), "cpu", "cuda" or "cuda:k" (training.devices.resolve_device).
    device: str = "auto"
    motion_file: str = ""
    num_envs: int = 4096  # per rank
    ngpu: int = 1  # ranks (processes) on this node
    seed: int = 0  # rank r uses seed + r
    num_threads: int = 0  # CPU simulator threads per rank; 0 = all cores / ranks
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: PPOConfig = field(default_factory=PPOConfig)
