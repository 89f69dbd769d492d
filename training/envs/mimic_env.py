"""The motion-imitation ("mimic") environment: N simulated humanoids tracking MotionLib clips.

Contract (used by PPO and the evaluator): ``reset() -> obs`` (N, O);
``step(actions) -> (obs, reward, terminated, truncated, info)`` with actions (N, D) raw policy
outputs. ``env.action_mode`` maps them to PD targets: ``"absolute"`` (ProtoMotions) is
action_offset + action_scale · tanh(a), per DoF from the robot spec, or the experiment's scalar
``env.action_scale`` with offset 0 when the spec has none; ``"residual"`` is the reference's joint
angles at t + dt plus ``env.residual_action_scale`` · tanh(a), so a zero action is the oracle. Envs that
ended are reset inside ``step``: ``obs`` already starts their next episode and
``info["final_obs"]`` holds the observation before the reset (for bootstrapping).
``terminated`` means failure (a body strayed more than ``termination_distance`` from its
reference); ``truncated`` means time-out or the end of the reference clip — the episode ends
but its value is bootstrapped. With ``auto_reset`` False (evaluation) ended envs are not reset:
they keep simulating while their reference holds its last frame.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from motion.motion_lib import MotionLib, MotionState
from robots.dof_conversion import reference_dof_positions, reference_dof_velocities
from training.config import ExperimentConfig
from training.envs.observations import (
    height_map_points,
    height_map_world_points,
    humanoid_observation,
    reference_bodies,
    target_pose_observation,
    terrain_observation,
)
from training.envs.rewards import Actuation, ContactMatch, combine_rewards, mimic_reward_terms, smooth_contacts
from training.envs.start_states import FailureStarts, check_reset_root_velocity, finite_difference_root_velocity
from training.simulator.base import DofState, RootState, Simulator

TIME_EPSILON = 1e-5  # s: float32 motion times accumulate rounding of dt
CONTACT_FORCE_THRESHOLD = 1.0  # N: a body with more net contact force than this is in contact
ACTION_MODES = ("absolute", "residual")


class MimicEnv:
    def __init__(
        self,
        config: ExperimentConfig,
        simulator: Simulator,
        motion_lib: MotionLib,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        self.config = config
        self.env_config = config.env
        self.sim = simulator
        self.motion_lib = motion_lib
        #: Every tensor of the env lives here: the simulator's device (its state tensors are read in place).
        self.device = simulator.device
        if motion_lib.device != self.device:
            raise ValueError(
                f"MimicEnv: the MotionLib is on {motion_lib.device}, the simulator on {self.device}: "
                f"load it with MotionLib.from_file(path, device={str(self.device)!r})"
            )
        self.generator = generator if generator is not None else torch.Generator(self.device).manual_seed(config.seed)
        if self.generator.device != self.device:
            raise ValueError(f"MimicEnv: the generator is on {self.generator.device}, the env on {self.device}")
        self.num_envs = simulator.num_envs
        self.num_actions = simulator.num_dofs
        self.dt = simulator.control_dt
        robot = simulator.robot
        self.dof_format = robot.dof_format
        if self.env_config.action_mode not in ACTION_MODES:
            raise ValueError(
                f"env.action_mode: expected one of {', '.join(ACTION_MODES)}, got {self.env_config.action_mode!r}"
            )
        self.residual_actions = self.env_config.action_mode == "residual"
        self.reset_root_velocity = check_reset_root_velocity(self.env_config.reset_root_velocity)
        #: Recent failure times per motion (starts near them), or None when the lever is off.
        self.failure_starts: Optional[FailureStarts] = None
        if self.env_config.failure_start_prob > 0:
            self.failure_starts = FailureStarts(
                motion_lib.motion_lengths,
                self.env_config.failure_start_bin,
                self.env_config.failure_start_lead,
                self.env_config.failure_memory,
            )
        #: (D,) s: how far the residual mode's base target leads the reference (kd / kp per DoF), or None.
        self.target_lead: Optional[Tensor] = None
        if self.residual_actions and self.env_config.residual_velocity_feedforward:
            self.target_lead = torch.tensor(robot.kd, device=self.device) / torch.tensor(robot.kp, device=self.device)
        #: Per-DoF action mapping (D,) rad, or None: the scalar ``env.action_scale`` and offset 0.
        self.action_offset: Optional[Tensor] = None
        self.action_scale: Optional[Tensor] = None
        if robot.action_scale:
            offsets = robot.action_offset or (0.0,) * len(robot.action_scale)
            self.action_offset = torch.tensor(offsets, device=self.device)
            self.action_scale = torch.tensor(robot.action_scale, device=self.device)
        body_ids = [robot.body_names.index(b) for b in robot.contact_bodies]
        self.contact_body_ids = torch.tensor(body_ids, dtype=torch.int64, device=self.device)
        self._ref_contacts = self._smoothed_reference_contacts()
        obs_config = self.env_config.observations
        self._height_points = (
            height_map_points(obs_config.terrain_obs_points, obs_config.terrain_obs_extent, self.device)
            if obs_config.terrain_obs
            else None
        )
        terrain = simulator.config.terrain
        self.spawn_points = terrain.spawn_points.to(self.device) if terrain is not None else None
        # Evaluation spawns on flat ground: the middle of the terrain's flat border strip, whose
        # height is that of the heightfield's first cell (None on a flat plane: no offset).
        self.flat_spawn_point: Optional[Tensor] = None
        if terrain is not None:
            half_border = 0.5 * self.env_config.terrain.border_size
            self.flat_spawn_point = torch.tensor(
                [terrain.origin[0] + half_border, terrain.origin[1] + half_border, float(terrain.heights[0, 0])],
                device=self.device,
            )

        n, d, dev = self.num_envs, self.num_actions, self.device
        self.motion_ids = torch.zeros(n, dtype=torch.long, device=dev)
        self.motion_times = torch.zeros(n, device=dev)
        self.progress = torch.zeros(n, dtype=torch.long, device=dev)
        self.ref_offset = torch.zeros(n, 3, device=dev)  # spawn xy shift and terrain height added to the reference
        self.prev_actions = torch.zeros(n, d, device=dev)
        self.prev_targets = torch.zeros(n, d, device=dev)
        self.episode_return = torch.zeros(n, device=dev)
        self.auto_reset = True  # False while evaluating: ended episodes keep running (see step)
        self._cached_ref: Optional[Tuple[Tensor, MotionState]] = None
        self.num_obs = int(self.observe().shape[1])

    # --- reference ---------------------------------------------------------------------------

    def _smoothed_reference_contacts(self) -> Tensor:
        """(F, K) reference contacts of the contact bodies, moving-averaged per motion."""
        lib = self.motion_lib
        if lib.contacts is None:
            return torch.zeros(lib.num_frames, len(self.contact_body_ids), device=self.device)
        contacts = lib.contacts[:, self.contact_body_ids].float()
        smoothed = torch.empty_like(contacts)
        window = self.env_config.ref_contact_smooth_window
        for start, count in zip(lib.length_starts.tolist(), lib.motion_num_frames.tolist()):
            smoothed[start : start + count] = smooth_contacts(contacts[start : start + count], window)
        return smoothed

    def reference_state(self, times: Tensor, env_ids: Optional[Tensor] = None) -> MotionState:
        """Reference states of envs ``env_ids`` (all by default) at ``times``, spawn offset applied."""
        ids = self.motion_ids if env_ids is None else self.motion_ids[env_ids]
        offset = self.ref_offset if env_ids is None else self.ref_offset[env_ids]
        state = self.motion_lib.get_motion_state(ids, times)
        return state._replace(rigid_body_pos=state.rigid_body_pos + offset[:, None, :])

    def reference_contacts(self, times: Tensor) -> Tensor:
        frame0, frame1, blend = self.motion_lib.frame_blend(self.motion_ids, times)
        return torch.lerp(self._ref_contacts[frame0], self._ref_contacts[frame1], blend[:, None])

    def reference_pd_targets(self, times: Tensor) -> Tensor:
        """Hinge angles (N, D) of the reference pose at ``times``: what an oracle feeds the PD."""
        return reference_dof_positions(self.dof_format, self.motion_lib.get_motion_state(self.motion_ids, times))

    def _next_reference_pd_targets(self) -> Tensor:
        """The residual mode's base targets (N, D) rad: reference joint angles at t + dt, led by
        ``target_lead`` · reference joint rates when set. Reads the reference the last
        observation sampled when it is still current."""
        times = self.motion_times + self.dt
        state = self._cached_reference(times)
        if state is None:
            state = self.motion_lib.get_motion_state(self.motion_ids, times)
        angles = reference_dof_positions(self.dof_format, state)
        if self.target_lead is None:
            return angles
        return angles + self.target_lead * reference_dof_velocities(self.dof_format, state, angles)

    def pd_targets(self, actions: Tensor) -> Tensor:
        """PD targets (N, D) rad of raw policy actions (N, D), for the step about to be taken."""
        if self.residual_actions:
            return self._next_reference_pd_targets() + self.env_config.residual_action_scale * torch.tanh(actions)
        if self.action_scale is None:
            return self.env_config.action_scale * torch.tanh(actions)
        return self.action_offset + self.action_scale * torch.tanh(actions)

    def actions_for_targets(self, targets: Tensor) -> Tensor:
        """The raw actions (N, D) whose PD targets are ``targets`` (N, D) in the step about to be
        taken, clipped just inside the range."""
        if self.residual_actions:
            unit = (targets - self._next_reference_pd_targets()) / self.env_config.residual_action_scale
        elif self.action_scale is None:
            unit = targets / self.env_config.action_scale
        else:
            unit = (targets - self.action_offset) / self.action_scale
        return torch.atanh(unit.clamp(-1.0 + 1e-6, 1.0 - 1e-6))

    # --- episodes ----------------------------------------------------------------------------

    def reset(self) -> Tensor:
        self.reset_envs(torch.arange(self.num_envs, device=self.device))
        return self.observe()

    def reset_envs(
        self,
        env_ids: Tensor,
        motion_ids: Optional[Tensor] = None,
        times: Optional[Tensor] = None,
        flat_ground: bool = False,
    ) -> None:
        """Start new episodes in ``env_ids`` (K,), from the reference state of sampled (or given)
        motions and times. ``flat_ground`` (evaluation) spawns on flat ground: where the
        reference is on a flat plane, on the terrain's flat border otherwise."""
        count = int(env_ids.numel())
        if count == 0:
            return
        env_ids = env_ids.to(self.device)
        if motion_ids is None:
            motion_ids = self.motion_lib.sample_motions(count, self.generator)
        motion_ids = motion_ids.to(self.device)
        times = self._sample_start_times(motion_ids) if times is None else times.to(self.device)
        self._cached_ref = None  # motions, times or spawn offsets change
        self.motion_ids[env_ids] = motion_ids
        self.motion_times[env_ids] = times
        ref = self.motion_lib.get_motion_state(motion_ids, times)
        root_pos = ref.rigid_body_pos[:, 0]
        offset = torch.zeros(count, 3, device=self.device)
        if flat_ground and self.flat_spawn_point is not None:
            offset[:, :2] = self.flat_spawn_point[:2] - root_pos[:, :2]
            offset[:, 2] = self.flat_spawn_point[2]
        elif self.spawn_points is not None:
            drawn = torch.randint(len(self.spawn_points), (count,), generator=self.generator, device=self.device)
            spawn = self.spawn_points[drawn]
            offset[:, :2] = spawn[:, :2] - root_pos[:, :2]
            offset[:, 2] = spawn[:, 2]
        self.ref_offset[env_ids] = offset
        raised = offset.clone()
        raised[:, 2] += self.env_config.ref_respawn_offset
        hinge_pos = reference_dof_positions(self.dof_format, ref)
        hinge_vel = reference_dof_velocities(self.dof_format, ref, hinge_pos)
        root_vel, root_ang_vel = ref.rigid_body_vel[:, 0], ref.rigid_body_ang_vel[:, 0]
        if self.reset_root_velocity == "finite_difference":
            root_vel, root_ang_vel = finite_difference_root_velocity(self.motion_lib, motion_ids, times)
        root = RootState(root_pos + raised, ref.rigid_body_rot[:, 0], root_vel, root_ang_vel)
        self.sim.reset_envs(env_ids, root, DofState(hinge_pos, hinge_vel))
        self.progress[env_ids] = 0
        self.prev_actions[env_ids] = 0.0
        self.prev_targets[env_ids] = hinge_pos
        self.episode_return[env_ids] = 0.0

    def _sample_start_times(self, motion_ids: Tensor) -> Tensor:
        lengths = self.motion_lib.motion_lengths[motion_ids]
        uniform = torch.rand(len(motion_ids), generator=self.generator, device=self.device)
        times = uniform * (lengths - self.dt).clamp_min(0.0)
        draw = torch.rand(len(motion_ids), generator=self.generator, device=self.device)
        from_start = draw < self.env_config.init_start_prob
        times = torch.where(from_start, torch.zeros_like(times), times)
        if self.failure_starts is not None:
            near_failure, known = self.failure_starts.sample(motion_ids, self.generator)
            draw = torch.rand(len(motion_ids), generator=self.generator, device=self.device)
            use = known & (draw < self.env_config.failure_start_prob)
            times = torch.where(use, torch.minimum(near_failure, (lengths - self.dt).clamp_min(0.0)), times)
        return times

    # --- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> Optional[Dict[str, Any]]:
        """Episode bookkeeping plus the physics state (tensors only), or None if the simulator
        cannot save its state. Restoring it continues every episode exactly."""
        physics = self.sim.get_state()
        if physics is None:
            return None
        state = {name: getattr(self, name).to("cpu", copy=True) for name in _EPISODE_FIELDS}
        state["generator"] = self.generator.get_state()
        state["physics"] = physics
        # The failure-start memory is not episode state: the trainer keeps it in the checkpoint's
        # ``extra`` (it must survive a compact checkpoint), and evaluations leave it untouched.
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> Tensor:
        """Restore :meth:`state_dict`; returns the observation to continue from."""
        for name in _EPISODE_FIELDS:
            getattr(self, name).copy_(state[name])
        self.generator.set_state(state["generator"])
        self.sim.set_state(state["physics"])
        self._cached_ref = None
        return self.observe()

    # --- stepping ----------------------------------------------------------------------------

    def step(self, actions: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Dict[str, Any]]:
        targets = self.pd_targets(actions)
        self.sim.step(targets)
        self.motion_times += self.dt
        self.progress += 1

        bodies = self.sim.body_state()
        dofs = self.sim.dof_state()
        ref = self._reference_now()
        contact_force = self.sim.contact_forces()[:, self.contact_body_ids].norm(dim=-1)
        actuation = Actuation(targets, self.prev_targets, self.sim.applied_torques(), dofs.vel)
        contacts = ContactMatch(
            contact_force > CONTACT_FORCE_THRESHOLD,
            self.reference_contacts(self.motion_times),
            self.progress <= self.env_config.reset_grace_period,
        )
        reference = reference_bodies(ref)
        terms = mimic_reward_terms(bodies, reference, actuation, contacts, self.env_config.reward_config)
        weighted = combine_rewards(terms, self.env_config.reward_config)
        reward = weighted["total"]

        distance = (bodies.pos - reference.pos).norm(dim=-1).amax(dim=-1)
        diverged = self.sim.diverged_envs()
        terminated = (distance > self.env_config.termination_distance) & self.env_config.enable_termination
        # A world whose physics blew up was reset by the engine: whatever it shows now is not
        # the consequence of the policy's action, so the episode ends as a failure.
        terminated = terminated | diverged
        if self.failure_starts is not None and self.auto_reset:
            self.failure_starts.forget()
            failed = terminated.nonzero().squeeze(1)
            self.failure_starts.record(self.motion_ids[failed], self.motion_times[failed])
        # The next target time would pass the clip's end (with slack for float32 time accumulation).
        lengths = self.motion_lib.motion_lengths[self.motion_ids]
        clip_end = self.motion_times + self.dt >= lengths - TIME_EPSILON
        timeout = self.progress >= self.env_config.max_episode_length
        truncated = (clip_end | timeout) & ~terminated
        self.prev_actions = actions.detach().clone()
        self.prev_targets = targets.detach().clone()
        self.episode_return += reward

        obs = self.observe()
        info: Dict[str, Any] = {"final_obs": obs, "metrics": _metrics(terms, weighted, terminated)}
        info["metrics"]["env/diverged_rate"] = diverged.float().mean()
        done = terminated | truncated
        if self.auto_reset and bool(done.any()):
            info["final_obs"] = obs.clone()
            done_ids = done.nonzero().squeeze(1)
            info["episode"] = {
                "return": self.episode_return[done_ids].clone(),
                "length": self.progress[done_ids].clone(),
            }
            self.reset_envs(done_ids)
            obs[done_ids] = self.observe(done_ids)  # only the new episodes' rows changed
        return obs, reward, terminated, truncated, info

    def _reference_now(self) -> MotionState:
        """Reference at the current motion times, reusing what the last observation sampled when
        nothing was reset since (``motion_times += dt`` yields exactly the times it used)."""
        cached = self._cached_reference(self.motion_times)
        return self.reference_state(self.motion_times) if cached is None else cached

    def _cached_reference(self, times: Tensor) -> Optional[MotionState]:
        """The reference the last full observation sampled, if it sampled it at exactly ``times`` (N,)."""
        cached = self._cached_ref
        return cached[1] if cached is not None and torch.equal(cached[0], times) else None

    def observe(self, env_ids: Optional[Tensor] = None) -> Tensor:
        """Observations (N, O) of the current state (future reference frames, previous action,
        terrain); with ``env_ids`` (K,) only those envs' rows (K, O)."""
        bodies = self.sim.body_state()
        if env_ids is not None:
            bodies = type(bodies)(*(field[env_ids] for field in bodies))
        motion_times = self.motion_times if env_ids is None else self.motion_times[env_ids]
        prev_actions = self.prev_actions if env_ids is None else self.prev_actions[env_ids]
        root_pos, root_rot = bodies.pos[:, 0], bodies.rot[:, 0]
        ground = self.sim.terrain_heights(root_pos[:, None, :2])[:, 0]
        parts = [humanoid_observation(bodies, ground)]
        for step in range(1, self.env_config.observations.future_steps + 1):
            times = motion_times + step * self.dt
            ref = self.reference_state(times, env_ids)
            if step == 1 and env_ids is None:  # the next step's reward reads this very reference
                self._cached_ref = (times, ref)
            parts.append(target_pose_observation(bodies, reference_bodies(ref)))
        parts.append(prev_actions)
        if self._height_points is not None:
            points = height_map_world_points(root_pos, root_rot, self._height_points)
            parts.append(terrain_observation(root_pos[:, 2], self.sim.terrain_heights(points)))
        return torch.cat(parts, dim=-1)


#: Per-env episode state saved by MimicEnv.state_dict (all (N, ...) tensors).
_EPISODE_FIELDS = (
    "motion_ids",
    "motion_times",
    "progress",
    "ref_offset",
    "prev_actions",
    "prev_targets",
    "episode_return",
)


def _metrics(terms: Dict[str, Tensor], weighted: Dict[str, Tensor], terminated: Tensor) -> Dict[str, Tensor]:
    metrics = {f"env/raw_r/{name}": value.mean() for name, value in terms.items()}
    metrics.update({f"env/scaled_r/{name}": value.mean() for name, value in weighted.items() if name != "total"})
    metrics["env/termination_rate"] = terminated.float().mean()
    return metrics
