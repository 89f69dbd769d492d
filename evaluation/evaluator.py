"""Full evaluation of a policy: every motion once, from its start, to its end.

The protocol PHC, PULSE and MaskedMimic report (and ProtoMotions' mimic evaluator runs): motion
``i`` of a batch plays in env ``i`` from t = 0 on flat ground, actions are deterministic, nothing
terminates or resets, and each motion runs until its last reference frame (optionally capped).
Motions beyond ``num_envs`` run in further batches; envs left over in the last batch are parked
on the batch's first motion and ignored. Every frame records the simulated bodies; the
reference is read back from the MotionLib at the same times, and the per-motion metrics
(:mod:`evaluation.metrics`) are computed when a batch ends.

Used by ``mimic inference --full-eval`` and, every ``agent.eval_metrics_every`` epochs, by
training (:mod:`training.trainer`), which snapshots the env around it.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
from torch import Tensor

from robots.dof_conversion import simulated_dofs_to_reference
from training.envs.mimic_env import CONTACT_FORCE_THRESHOLD, MimicEnv

#: obs (N, O) → raw actions (N, D); deterministic for an evaluation.
Policy = Callable[[Tensor], Tensor]


@dataclass
class EvaluationResult:
    # One per motion, in evaluation order: evaluation.metrics.ROW_COLUMNS, plus the per-motion PHC
    # sums (evaluation.phc_metrics.PHC_ROW_KEYS; per_motion.parquet does not store them).
    rows: List[Dict[str, Any]]
    summary: Dict[str, Any]  # evaluation.metrics.summarize_motions(rows)
    predicted_motion_lib: Optional[Dict[str, Any]]  # the simulated motions as a MotionLib dict

    @property
    def success_rate(self) -> float:
        return float(self.summary["Eval/success_rate"])

    def successes(self) -> Dict[int, bool]:
        return {int(row["motion_id"]): bool(row["success"]) for row in self.rows}


@dataclass
class _BatchRecording:
    """What one batch of envs did, frame by frame: (T, N, ...) tensors, T = longest motion."""

    pos: Tensor  # (T, N, B, 3) m
    rot: Tensor  # (T, N, B, 4) xyzw
    vel: Tensor  # (T, N, B, 3) m/s
    ang_vel: Tensor  # (T, N, B, 3) rad/s
    dof_pos: Tensor  # (T, N, D) hinge angles, rad
    dof_vel: Tensor  # (T, N, D) hinge rates, rad/s
    contacts: Tensor  # (T, N, B) bool


def frames_to_evaluate(env: MimicEnv, motion_ids: Tensor, max_frames: Optional[int] = None) -> Tensor:
    """(K,) frames each motion is evaluated for: one per control step from t = 0 up to its last
    reference time (``floor(length / dt) + 1``), capped at ``max_frames``."""
    lengths = env.motion_lib.motion_lengths[motion_ids].double()
    frames = torch.floor(lengths / env.dt + 1e-4).long().cpu() + 1
    return frames.clamp_max(max_frames) if max_frames else frames


def evaluate(
    env: MimicEnv,
    policy: Policy,
    motion_ids: Optional[Sequence[int]] = None,
    max_frames: Optional[int] = None,
    keep_predicted: bool = True,
    progress: bool = False,
) -> EvaluationResult:
    """Run ``policy`` on every motion of ``motion_ids`` (default: all of the env's MotionLib).

    ``max_frames`` caps each motion (None: to its end). ``progress``: report motions done with
    rate and ETA (:mod:`motion.progress`; ``mimic inference --full-eval`` turns it on). The env
    is left in evaluation state; callers that continue training with it restore a snapshot
    (``MimicEnv.state_dict``).
    """
    from evaluation.metrics import summarize_motions

    lib = env.motion_lib
    cpu = torch.device("cpu")  # bookkeeping and recordings stay on the CPU whatever the env's device
    wanted = range(lib.num_motions) if motion_ids is None else motion_ids
    ids = torch.tensor([int(i) for i in wanted], dtype=torch.long, device=cpu)
    if ids.numel() == 0:
        raise ValueError("evaluate: no motions to evaluate")
    rows: List[Dict[str, Any]] = []
    predicted: List[Dict[str, Tensor]] = []
    from motion.progress import Progress

    with _evaluation_settings(env), Progress(int(ids.numel()), "full-eval", "motion", enabled=progress) as done:
        for start in range(0, int(ids.numel()), env.num_envs):
            batch = ids[start : start + env.num_envs]
            frames = frames_to_evaluate(env, batch, max_frames)
            recording = _run_batch(env, policy, batch, frames)
            for env_id, (motion_id, count) in enumerate(zip(batch.tolist(), frames.tolist())):
                rows.append(_motion_row(env, recording, env_id, motion_id, count))
                if keep_predicted:
                    predicted.append(_predicted_motion(recording, env_id, count, env.sim.robot.dof_format))
            done.update(int(batch.numel()))
    summary = summarize_motions(rows)
    predicted_lib = _predicted_motion_lib(env, ids, predicted) if keep_predicted else None
    return EvaluationResult(rows=rows, summary=summary, predicted_motion_lib=predicted_lib)


@contextmanager
def _evaluation_settings(env: MimicEnv) -> Iterator[None]:
    """No terminations and no automatic resets while evaluating; restored afterwards."""
    saved = (env.auto_reset, env.env_config.enable_termination)
    env.auto_reset, env.env_config.enable_termination = False, False
    try:
        yield
    finally:
        env.sim.park_envs(None)
        env.auto_reset, env.env_config.enable_termination = saved


def _run_batch(env: MimicEnv, policy: Policy, batch: Tensor, frames: Tensor) -> _BatchRecording:
    """Simulate one batch of motions from their first frame; the recording is kept on the CPU
    (the env may be on a GPU), one copy per step."""
    n, k, dev = env.num_envs, int(batch.numel()), env.device
    assigned = torch.full((n,), int(batch[0]), dtype=torch.long, device=dev)
    assigned[:k] = batch.to(dev)
    env.reset_envs(torch.arange(n, device=dev), motion_ids=assigned, times=torch.zeros(n, device=dev), flat_ground=True)
    parked = torch.arange(n, device=dev) >= k
    env.sim.park_envs(parked if bool(parked.any()) else None)  # their physics would be thrown away
    obs = env.observe()
    steps = int(frames.max())
    num_bodies, num_dofs = len(env.sim.robot.body_names), env.num_actions
    empty = functools.partial(torch.empty, device="cpu")
    rec = _BatchRecording(
        pos=empty(steps, n, num_bodies, 3),
        rot=empty(steps, n, num_bodies, 4),
        vel=empty(steps, n, num_bodies, 3),
        ang_vel=empty(steps, n, num_bodies, 3),
        dof_pos=empty(steps, n, num_dofs),
        dof_vel=empty(steps, n, num_dofs),
        contacts=empty(steps, n, num_bodies, dtype=torch.bool),
    )
    for frame in range(steps):
        if frame > 0:
            obs, _reward, _terminated, _truncated, _info = env.step(policy(obs))
        bodies, dofs = env.sim.body_state(), env.sim.dof_state()
        rec.pos[frame], rec.rot[frame] = bodies.pos, bodies.rot
        rec.vel[frame], rec.ang_vel[frame] = bodies.vel, bodies.ang_vel
        rec.dof_pos[frame], rec.dof_vel[frame] = dofs.pos, dofs.vel
        rec.contacts[frame] = env.sim.contact_forces().norm(dim=-1) > CONTACT_FORCE_THRESHOLD
    return rec


def _motion_row(env: MimicEnv, rec: _BatchRecording, env_id: int, motion_id: int, count: int) -> Dict[str, Any]:
    from evaluation.metrics import motion_metrics
    from evaluation.phc_metrics import phc_motion_sums

    device = env.motion_lib.device
    times = torch.arange(count, dtype=torch.float64, device=device).mul(env.dt).float()
    ref = env.motion_lib.get_motion_state(torch.full((count,), motion_id, dtype=torch.long, device=device), times)
    ref_pos = (ref.rigid_body_pos + env.ref_offset[env_id]).cpu()
    ref_rot = ref.rigid_body_rot.cpu()
    metrics = motion_metrics(rec.pos[:count, env_id], ref_pos, rec.rot[:count, env_id], ref_rot, env.dt)
    row: Dict[str, Any] = {
        "motion_id": motion_id,
        "file": _motion_file(env, motion_id),
        "subset": motion_subset(env.motion_lib.metadata, motion_id),
        "frames": count,
    }
    row.update(metrics)
    # Sums and counts rather than per-frame values: the row stays small, and the frame-weighted
    # PHC means stay exact whatever the batching, and when training gathers rows from its ranks.
    row.update(phc_motion_sums(rec.pos[:count, env_id], ref_pos))
    return row


def _motion_file(env: MimicEnv, motion_id: int) -> str:
    files = env.motion_lib.motion_files
    return str(files[motion_id]) if motion_id < len(files) else ""


def motion_subset(metadata: Dict[str, Any], motion_id: int) -> str:
    """The AMASS subset of a packaged motion: its recorded ``subset``, else the first directory of
    its ``source_path`` (relative to the AMASS root), else ``""``."""
    for key in ("subset", "source_path"):
        values = metadata.get(key)
        if isinstance(values, (list, tuple)) and motion_id < len(values) and values[motion_id]:
            value = str(values[motion_id])
            return value if key == "subset" else (value.replace("\\", "/").split("/")[0] if "/" in value else "")
    return ""


def _predicted_motion(rec: _BatchRecording, env_id: int, count: int, dof_format: str) -> Dict[str, Tensor]:
    """One simulated motion in MotionLib layout (F = ``count`` frames); DoFs converted per ``dof_format``."""
    dof_pos = rec.dof_pos[:count, env_id]
    dof_vel = rec.dof_vel[:count, env_id]
    rot = rec.rot[:count, env_id]
    dps, dvs, local = simulated_dofs_to_reference(dof_format, dof_pos, dof_vel, rot[:, 0])
    motion = {
        "gts": rec.pos[:count, env_id].clone(),
        "grs": rot.clone(),
        "gvs": rec.vel[:count, env_id].clone(),
        "gavs": rec.ang_vel[:count, env_id].clone(),
        "dps": dps,
        "dvs": dvs,
    }
    if local is not None:
        motion["lrs"] = local
    motion["contacts"] = rec.contacts[:count, env_id].clone()
    return motion


def _predicted_motion_lib(env: MimicEnv, ids: Tensor, motions: List[Dict[str, Tensor]]) -> Dict[str, Any]:
    """The simulated motions as a packaged MotionLib dict (what ``MotionLib(data)`` loads):
    contacts from simulation, frames ``env.dt`` apart, every weight 1."""
    from motion.motion_file import METADATA_KEY

    data: Dict[str, Any] = {key: torch.cat([m[key] for m in motions]) for key in motions[0]}
    num_frames = torch.tensor([int(m["gts"].shape[0]) for m in motions], dtype=torch.long, device="cpu")
    data["length_starts"] = torch.cumsum(num_frames, 0) - num_frames
    data["motion_num_frames"] = num_frames
    data["motion_lengths"] = ((num_frames - 1).double() * env.dt).float()
    data["motion_dt"] = torch.full((len(motions),), env.dt, dtype=torch.float32, device="cpu")
    data["motion_weights"] = torch.ones(len(motions), device="cpu")
    data["motion_files"] = tuple(_motion_file(env, int(i)) for i in ids.tolist())
    data[METADATA_KEY] = {
        "predicted_from": env.motion_lib.source,
        "motion_ids": [int(i) for i in ids.tolist()],
        "fps": round(1.0 / env.dt, 6),
    }
    return data
