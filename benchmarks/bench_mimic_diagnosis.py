"""Why an untrained mimic policy falls: reset error, baselines, reward terms and terminations.

On the real walk and jumps clips, with episodes started as in training (random clip times,
``init_start_prob`` at t = 0), for each action mode (``absolute``: ProtoMotions' π·tanh(a);
``residual``: reference angles + correction; ``residual_feedforward``: the residual mode's base
target also leads the reference by kd/kp times its joint rate) and each no-learning policy
(``zero`` actions, ``oracle``: the reference's next angles as PD targets):

- mean first-episode length (control steps) and the share ended by termination;
- which body first strays past the termination distance;
- raw reward terms averaged over the first 5 steps;
- tracking error right after reset and after one step (mean body distance, m);
- reset velocities: simulated body velocities after ``reset()`` against the MotionLib's
  (``gvs``/``gavs``: smallest forward difference over 1–3 frames, per body) and against
  one-frame forward differences of the reference positions/rotations.

Prints one JSON line, then a summary.    python benchmarks/bench_mimic_diagnosis.py [--envs 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from fixture_clips import fixture_motion_lib  # noqa: E402

from motion.conversion import angular_velocity  # noqa: E402
from training.baseline_agents import BaselineAgent  # noqa: E402
from training.envs.factory import make_env  # noqa: E402
from training.experiment_loader import load_experiment  # noqa: E402
from training.overrides import apply_overrides  # noqa: E402

MAX_STEPS = 150
MODES = {
    "absolute": ["env.action_mode=absolute"],
    "residual": ["env.action_mode=residual"],
    "residual_feedforward": ["env.action_mode=residual", "env.residual_velocity_feedforward=true"],
}


def reset_velocity_errors(env, seed: int = 0) -> dict:  # noqa: ANN001 - MimicEnv
    """Reset every env at a random frame of a random clip (frame-aligned, so one-frame forward
    differences of the reference are exact there) and compare the simulated body velocities
    with the reference's."""
    lib = env.motion_lib
    generator = torch.Generator().manual_seed(seed)
    n = env.num_envs
    motion_ids = torch.randint(lib.num_motions, (n,), generator=generator)
    frame = (torch.rand(n, generator=generator) * (lib.motion_num_frames[motion_ids] - 1).float()).long()
    times = frame.float() * lib.motion_dt[motion_ids]
    env.reset_envs(torch.arange(n), motion_ids=motion_ids, times=times)
    ref = env.reference_state(env.motion_times)
    bodies = env.sim.body_state()
    row = lib.length_starts[motion_ids] + frame
    fps = (1.0 / lib.motion_dt[motion_ids])[:, None, None]
    forward_vel = (lib.gts[row + 1] - lib.gts[row]) * fps
    forward_ang = angular_velocity(lib.grs[row], lib.grs[row + 1], 1.0 / fps)

    def err(a, b):  # noqa: ANN001, ANN202
        d = (a - b).norm(dim=-1)
        return {"mean": float(d.mean()), "max": float(d.max())}

    raise_z = torch.tensor([0.0, 0.0, env.env_config.ref_respawn_offset])
    return {
        "position_m": err(bodies.pos, ref.rigid_body_pos + raise_z),
        "lin_vel_vs_motionlib_m_s": err(bodies.vel, ref.rigid_body_vel),
        "lin_vel_vs_forward_difference_m_s": err(bodies.vel, forward_vel),
        "ang_vel_vs_motionlib_rad_s": err(bodies.ang_vel, ref.rigid_body_ang_vel),
        "ang_vel_vs_forward_difference_rad_s": err(bodies.ang_vel, forward_ang),
        "motionlib_lin_vel_vs_forward_difference_m_s": err(ref.rigid_body_vel, forward_vel),
        "motionlib_ang_vel_vs_forward_difference_rad_s": err(ref.rigid_body_ang_vel, forward_ang),
        "reference_speed_mean_m_s": float(ref.rigid_body_vel.norm(dim=-1).mean()),
        "resets": n,
    }


def first_episodes(env, kind: str) -> dict:  # noqa: ANN001 - MimicEnv
    """Reset all envs at training-distributed starts, act with ``kind`` until each first episode ends."""
    env.auto_reset = False
    obs = env.reset()
    agent = BaselineAgent(kind, env)
    names = env.sim.robot.body_names
    n = env.num_envs
    alive = torch.ones(n, dtype=torch.bool)
    length = torch.zeros(n)
    terminated_any = torch.zeros(n, dtype=torch.bool)
    first_body: Counter = Counter()
    term_sums: dict = {}
    step1_error = float("nan")
    for step in range(MAX_STEPS):
        obs, _reward, terminated, truncated, info = env.step(agent.act(obs))
        bodies = env.sim.body_state()
        ref = env.reference_state(env.motion_times)
        distance = (bodies.pos - ref.rigid_body_pos).norm(dim=-1)
        if step == 0:
            step1_error = float(distance.mean())
        if step < 5:
            for key, value in info["metrics"].items():
                if key.startswith("env/raw_r/"):
                    term_sums[key[len("env/raw_r/") :]] = (
                        term_sums.get(key[len("env/raw_r/") :], 0.0) + float(value) / 5
                    )
        ended = alive & (terminated | truncated)
        for i in (ended & terminated).nonzero().flatten().tolist():
            first_body[names[int(distance[i].argmax())]] += 1
        terminated_any |= ended & terminated
        length += alive.float()
        alive &= ~ended
        if not alive.any():
            break
    env.auto_reset = True
    return {
        "mean_length_steps": float(length.mean()),
        "terminated_share": float(terminated_any.float().mean()),
        "first_body_past_threshold": dict(first_body.most_common(4)),
        "raw_reward_terms_first_5_steps": {k: round(v, 4) for k, v in sorted(term_sums.items())},
        "mean_body_error_after_step_1_m": step1_error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        lib = fixture_motion_lib(Path(tmp))
        result: dict = {"envs": args.envs, "clips": "walk with kick + jumps (fixtures)"}
        for mode, overrides in MODES.items():
            config = load_experiment(str(REPO / "training/experiments/mimic/mlp.py"))
            config = apply_overrides(config, [f"motion_file={lib}", f"num_envs={args.envs}"] + overrides)
            env, _ = make_env(config, threads=2)
            if mode == "absolute":
                result["reset"] = reset_velocity_errors(env)
            result[mode] = {kind: first_episodes(env, kind) for kind in ("zero", "oracle")}
            env.sim.close()
    print(json.dumps(result))
    lengths = {mode: {kind: result[mode][kind]["mean_length_steps"] for kind in ("zero", "oracle")} for mode in MODES}
    print(
        "summary: first-episode length (steps) zero/oracle: "
        + ", ".join(f"{mode} {v['zero']:.1f}/{v['oracle']:.1f}" for mode, v in lengths.items())
        + f"; reset lin-vel error vs MotionLib {result['reset']['lin_vel_vs_motionlib_m_s']['mean']:.2f} m/s, "
        f"vs forward difference {result['reset']['lin_vel_vs_forward_difference_m_s']['mean']:.2f} m/s"
    )


if __name__ == "__main__":
    main()
