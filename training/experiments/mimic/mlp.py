"""SMPL motion imitation on flat ground with MLP actor and critic (ProtoMotions' ``mimic/mlp.py``).

Every value the experiment depends on is written out here, so this file alone records what
was trained; ``--overrides key.path=value`` changes any of them for one run. Robot, simulator,
motion file, number of environments and experiment name come from the command line.
"""

from __future__ import annotations

from training.config import (
    EnvConfig,
    ExperimentConfig,
    ObservationConfig,
    RewardConfig,
    RewardTerm,
    TerrainConfig,
)
from training.ppo.config import PPOConfig


def reward_config() -> RewardConfig:
    """Tracking kernels exp(coefficient · error), weighted and summed; maximum tracking reward 1.3."""
    return RewardConfig(
        gt_rew=RewardTerm(weight=0.5, coefficient=-25.0),  # global body positions, m²
        gr_rew=RewardTerm(weight=0.3, coefficient=-5.0),  # global body rotation angles, rad²
        gv_rew=RewardTerm(weight=0.1, coefficient=-0.5),  # linear velocities, (m/s)²
        gav_rew=RewardTerm(weight=0.2, coefficient=-0.1),  # angular velocities, (rad/s)²
        rh_rew=RewardTerm(weight=0.2, coefficient=-100.0),  # pelvis height, m²
        action_smoothness=RewardTerm(weight=-0.02),  # ‖PD target change‖₂, rad
        pow_rew=RewardTerm(weight=-1e-5, min_value=-0.5),  # Σ|τ·q̇|, W
        contact_match_rew=RewardTerm(weight=-0.1),  # feet contact mismatch, after the grace period
    )


def env_config() -> EnvConfig:
    return EnvConfig(
        max_episode_length=1000,  # control steps (33.3 s at 30 Hz)
        physics_hz=120.0,
        decimation=4,  # control at 30 Hz
        ref_respawn_offset=0.05,
        init_start_prob=0.2,
        enable_termination=True,
        termination_distance=0.5,  # m, any body from its reference
        ref_contact_smooth_window=7,
        reset_grace_period=5,
        action_scale=3.141592653589793,  # PD target = π·tanh(a) for every 3-DoF joint
        reward_config=reward_config(),
        terrain=TerrainConfig(kind="flat"),
        observations=ObservationConfig(future_steps=1, terrain_obs=False),
    )


def agent_config() -> PPOConfig:
    return PPOConfig(
        actor_units=[1024] * 6,
        critic_units=[1024] * 4,
        actor_lr=2e-5,
        critic_lr=1e-4,
        actor_logstd=-2.9,
        learnable_std=False,
        num_steps=32,
        num_mini_epochs=1,
        gamma=0.99,
        tau=0.95,
        e_clip=0.2,
        clip_critic_loss=True,
        gradient_clip_val=50.0,
        normalize_rewards=True,
        normalize_advantages=True,
        actor_clip_frac_threshold=0.6,
        eval_metrics_every=200,
    )


def build_config() -> ExperimentConfig:
    return ExperimentConfig(env=env_config(), agent=agent_config())
