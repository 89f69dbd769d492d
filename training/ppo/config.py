"""PPO hyper-parameters. Defaults are ProtoMotions' SMPL mimic settings (mlp.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List


@dataclass
class PPOConfig:
    actor_units: List[int] = field(default_factory=lambda: [1024] * 6)  # ReLU MLP hidden sizes
    critic_units: List[int] = field(default_factory=lambda: [1024] * 4)
    actor_lr: float = 2e-5
    critic_lr: float = 1e-4
    actor_logstd: float = -2.9  # fixed exploration std ≈ 0.055
    learnable_std: bool = False
    # A fixed (not learnable) log-std that decays linearly from actor_logstd to actor_logstd_final
    # over the first logstd_decay_env_steps env steps (all ranks), then stays there; 0 = constant.
    # A function of env steps alone, so a resumed run continues the same schedule.
    logstd_decay_env_steps: int = 0
    actor_logstd_final: float = -2.9
    entropy_coef: float = 0.005  # used only when learnable_std
    num_steps: int = 32  # rollout steps per env per epoch
    batch_size: int = 8192  # minibatch size (per rank): --batch-size
    num_mini_epochs: int = 1
    gamma: float = 0.99
    tau: float = 0.95  # GAE λ
    e_clip: float = 0.2
    clip_critic_loss: bool = True
    gradient_clip_val: float = 50.0  # 0 disables
    bad_grad_threshold: float = 1e6  # gradient norms above this (or non-finite) are zeroed
    normalize_rewards: bool = True  # divide by the running std of the discounted return
    reward_clamp: float = 5.0
    normalize_advantages: bool = True
    advantage_ema_alpha: float = 0.05
    advantage_min_std: float = 0.02
    advantage_clamp: float = 4.0
    actor_clip_frac_threshold: float = 0.6  # skip the rest of an epoch above this clip fraction
    # Adaptive learning rates (ProtoMotions' rule, off there by default): after each minibatch,
    # both rates ÷ lr_factor when its KL to the data-collecting policy exceeds 2·desired_kl and
    # × lr_factor below desired_kl / 2, kept within [lr_min, lr_max].
    adaptive_lr: bool = False
    desired_kl: float = 0.01
    lr_factor: float = 1.5
    lr_min: float = 1e-5
    lr_max: float = 1e-2
    obs_clamp: float = 5.0
    norm_ema_decay: float = 0.999  # observation normaliser
    eval_metrics_every: int = 200  # epochs between training-time evaluations; 0 disables them
    max_eval_steps: int = 600  # frames per motion in a training-time evaluation (20 s at 30 Hz)
    save_predicted_motion_lib_every: int = 3  # evaluations; the simulated motions as a MotionLib
    max_epochs: int = 0  # 0: bounded by training_max_steps only
    training_max_steps: int = 10**13  # total env steps over all ranks
