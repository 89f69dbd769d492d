"""What each clip of a MotionLib demands, and how long policies that learned nothing last on it.

Before training on a corpus, this tells data problems from policy problems: a clip that the
oracle (the reference's own joint angles as PD targets) and an untrained policy lose within a few
frames, that leaves the ground for a second, crawls on hands and knees or holds a capture glitch
is hard for reasons a learning curve does not show.

Demands (from the MotionLib, per clip): duration; peak horizontal root speed (m/s, one-frame
differences); airborne time (s, frames whose lowest body origin is above :data:`AIRBORNE_HEIGHT`,
the conversion's contact height); the median height of the lowest body (m: about 0.02-0.05 for
a clip standing on the floor; more, and the capture floats above the floor the height fix put
under its single lowest frame); ground contact by bodies other than the feet (s, frames where any
non-foot body is labelled in contact: hands, knees, pelvis); capture glitches
(:mod:`motion.capture_glitches`, read from each clip's ``.motion`` metadata, where conversion
recorded them at the source rate).

Survival (simulated, all clips side by side): each clip from t = 0 on flat ground, with the
training termination (any body farther than ``env.termination_distance`` from its reference);
frames lasted until the first termination, out of the frames the full evaluation plays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import Tensor

from motion.motion_lib import MotionLib

Policy = Callable[[Tensor], Tensor]  # obs (N, O) → raw actions (N, D)
AIRBORNE_HEIGHT = 0.10  # m: ConversionParams.contact_height_threshold


def clip_demands(lib: MotionLib, foot_bodies: List[int]) -> List[Dict[str, Any]]:
    """One row per motion: ``clip``, ``seconds``, ``peak_root_speed`` (m/s), ``airborne_seconds``,
    ``median_lowest_body`` (m), ``non_foot_contact_seconds`` and ``capture_glitches`` (count, or
    None when the clip's ``.motion`` is not at hand). ``foot_bodies``: body indices of the feet."""
    rows = []
    for motion in range(lib.num_motions):
        start, count = int(lib.length_starts[motion]), int(lib.motion_num_frames[motion])
        dt = float(lib.motion_dt[motion])
        root = lib.gts[start : start + count, 0].double()
        speed = (root[1:, :2] - root[:-1, :2]).norm(dim=-1) / dt if count > 1 else torch.zeros(1)
        lowest = lib.gts[start : start + count, :, 2].min(dim=1).values
        airborne = float((lowest > AIRBORNE_HEIGHT).sum()) * dt
        non_foot = 0.0
        if lib.contacts is not None:
            contacts = lib.contacts[start : start + count].bool()
            others = torch.ones(contacts.shape[1], dtype=torch.bool)
            others[foot_bodies] = False
            non_foot = float(contacts[:, others].any(dim=1).sum()) * dt
        rows.append(
            {
                "motion_id": motion,
                "clip": Path(str(lib.motion_files[motion])).stem,
                "seconds": round(float(lib.motion_lengths[motion]), 3),
                "peak_root_speed": round(float(speed.max()), 2),
                "airborne_seconds": round(airborne, 3),
                "median_lowest_body": round(float(lowest.median()), 3),
                "non_foot_contact_seconds": round(non_foot, 3),
                "capture_glitches": _recorded_glitches(str(lib.motion_files[motion])),
            }
        )
    return rows


def _recorded_glitches(motion_file: str) -> Optional[int]:
    from motion.motion_file import METADATA_KEY, read_torch_dict

    if not Path(motion_file).is_file():
        return None
    try:
        metadata = read_torch_dict(motion_file, mmap=True).get(METADATA_KEY) or {}
    except Exception:  # an unreadable clip is the integrity check's business, not this table's
        return None
    return len(metadata.get("capture_glitches") or [])


@torch.no_grad()
def survival_frames(env: Any, policy: Policy) -> Dict[str, Tensor]:
    """Run every motion of ``env``'s MotionLib from t = 0 (``env.num_envs`` must equal the number
    of motions) under the training termination; returns ``lasted`` (M,) frames before the first
    termination and ``frames`` (M,) frames the full evaluation plays (``lasted == frames``: the
    clip was lasted to its end). The env is left without automatic resets; build one for this."""
    from evaluation.evaluator import frames_to_evaluate

    lib, n, dev = env.motion_lib, env.num_envs, env.device
    if n != lib.num_motions:
        raise ValueError(f"survival_frames: the env has {n} envs, its MotionLib {lib.num_motions} motions")
    frames = frames_to_evaluate(env, torch.arange(n))
    env.auto_reset = False
    env.env_config.enable_termination = True
    ids = torch.arange(n, device=dev)
    env.reset_envs(ids, motion_ids=ids, times=torch.zeros(n, device=dev), flat_ground=True)
    obs = env.observe()
    lasted = torch.ones(n, dtype=torch.long)  # frame 0 is the reset pose itself
    alive = torch.ones(n, dtype=torch.bool)
    for frame in range(1, int(frames.max())):
        obs, _reward, terminated, _truncated, _info = env.step(policy(obs))
        alive &= ~terminated.cpu() & (frame < frames)
        lasted[alive] = frame + 1
        if not bool(alive.any()):
            break
    return {"lasted": lasted, "frames": frames}


def difficulty_table(motion_file: str, config: Any, threads: int = 0) -> List[Dict[str, Any]]:
    """:func:`clip_demands` joined with the oracle's and an untrained policy's
    :func:`survival_frames` (seconds lasted and whether to the end), for ``config``'s robot,
    simulator and env settings (its ``num_envs`` is set to the number of motions)."""
    import dataclasses

    from training.baseline_agents import BaselineAgent
    from training.envs.factory import make_env
    from training.ppo.agent import PPOAgent

    lib = MotionLib.from_file(motion_file)
    config = dataclasses.replace(config, motion_file=str(motion_file), num_envs=lib.num_motions)
    env, _md5 = make_env(config, threads=threads)
    try:
        robot = env.sim.robot
        feet = [robot.body_names.index(name) for name in robot.contact_bodies]
        rows = clip_demands(env.motion_lib, feet)
        oracle = BaselineAgent("oracle", env)
        agent = PPOAgent(config.agent, env.num_obs, env.num_actions, device=str(env.device), seed=config.seed)
        for name, policy in (("oracle", oracle.act), ("untrained", agent.policy)):
            result = survival_frames(env, policy)
            for row, lasted, frames in zip(rows, result["lasted"].tolist(), result["frames"].tolist()):
                row[f"{name}_seconds"] = round((lasted - 1) * env.dt, 3)
                row[f"{name}_to_end"] = lasted == frames
    finally:
        env.sim.close()
    return rows


COLUMNS = (
    ("clip", "clip"),
    ("seconds", "s"),
    ("peak_root_speed", "peak root speed (m/s)"),
    ("airborne_seconds", "airborne (s)"),
    ("median_lowest_body", "median lowest body (m)"),
    ("non_foot_contact_seconds", "non-foot contact (s)"),
    ("capture_glitches", "glitches"),
    ("oracle_seconds", "oracle lasts (s)"),
    ("untrained_seconds", "untrained lasts (s)"),
)


def markdown_table(rows: List[Dict[str, Any]]) -> str:
    """``rows`` as a Markdown table (the columns of :data:`COLUMNS` that the rows have)."""
    columns = [(key, title) for key, title in COLUMNS if rows and key in rows[0]]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row[key]
            if key.endswith("_seconds") and f"{key[: -len('_seconds')]}_to_end" in row:
                value = f"{value}{' (end)' if row[key[: -len('_seconds')] + '_to_end'] else ''}"
            cells.append("?" if value is None else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
