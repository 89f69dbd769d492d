"""``mimic inference``: run a trained policy (or a baseline agent) on a MotionLib.

Two modes, as in ProtoMotions' ``inference_agent.py``:

- ``full_eval``: every motion once (:func:`evaluation.evaluator.evaluate`), results written to
  ``<run dir>/eval/<timestamp>/`` (summary.json, per_motion.parquet, failed_motions.txt,
  predicted_motionlib.pt, plots), metrics printed.
- otherwise the policy runs continuously with training's resets: in MuJoCo's viewer when a
  display exists (until the window closes, or ``steps`` control steps), else headless for
  ``steps`` control steps (default 300);
  ``record`` saves a video of env 0.

The policy is the checkpoint's actor with deterministic actions; ``agent`` = oracle/zero/random
runs a baseline (no checkpoint needed; the config then comes from ``experiment_path``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "training/experiments/mimic/mlp.py"


@dataclass
class InferenceOptions:
    checkpoint: Optional[str] = None
    agent: str = "policy"  # "policy" (the checkpoint's), "oracle", "zero" or "random"
    experiment_path: str = DEFAULT_EXPERIMENT  # config source when there is no checkpoint
    # Typed values of training.command_flags.INFERENCE_FLAGS given on the command line, by dest
    # (motion_file, simulator, device, robot_xml, num_envs, num_threads); the rest: the checkpoint's.
    flags: Dict[str, Any] = field(default_factory=dict)
    full_eval: bool = False
    max_frames: Optional[int] = None  # per motion in full-eval (None: to the end)
    headless: bool = False
    steps: Optional[int] = None  # control steps without full-eval (None: headless 300; viewer: until closed)
    record: Optional[str] = None  # video of env 0 (mp4)
    output_dir: Optional[str] = None  # default: <checkpoint dir>/eval/<timestamp> or results/<agent>_baseline/...
    overrides: List[str] = field(default_factory=list)
    quiet: bool = False


def build_inference_config(options: InferenceOptions) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """The config to run under (the checkpoint's resolved one, else the experiment file's),
    with the command line's config flags (typed) and overrides applied; and the
    checkpoint payload (None for baselines)."""
    from motion.errors import CheckpointError, ConfigError
    from training.checkpoint import checkpoint_config, load_checkpoint
    from training.command_flags import INFERENCE_FLAGS, apply_flag_values
    from training.config import ExperimentConfig
    from training.config_checks import check_config_counts
    from training.experiment_loader import load_experiment
    from training.overrides import apply_overrides

    payload: Optional[Dict[str, Any]] = None
    if options.agent == "policy":
        if not options.checkpoint:
            raise ValueError("--checkpoint is required (or choose a baseline with --agent oracle|zero|random)")
        payload = load_checkpoint(options.checkpoint)
        config = checkpoint_config(payload, ExperimentConfig)
        robot = options.flags.get("robot_name")
        if robot is not None and robot != config.robot_name:
            # ProtoMotions' scripts pass --robot-name; a policy only drives the body it was trained on.
            raise CheckpointError(
                options.checkpoint, "config.robot_name", f"the robot given with --robot-name ({robot})",
                f"{config.robot_name} (the robot this policy was trained for)",
            )  # fmt: skip
    else:
        config = load_experiment(options.experiment_path)
    config = apply_overrides(apply_flag_values(config, INFERENCE_FLAGS, options.flags), options.overrides)
    source = options.checkpoint if options.agent == "policy" else options.experiment_path
    check_config_counts(config, f"{source} with the command line")
    if options.max_frames is not None and options.max_frames < 0:
        raise ConfigError("command line", "--max-frames", "a number of frames ≥ 0 (0: all)", repr(options.max_frames))
    if options.steps is not None and options.steps < 1:
        raise ConfigError("command line", "--steps", "a positive number of control steps", repr(options.steps))
    if not config.motion_file:
        raise ValueError("no motion file: pass --motion-file")
    config.ngpu = 1  # inference runs in one process
    return config, payload


def make_policy(options: InferenceOptions, env: Any, payload: Optional[Dict[str, Any]]) -> Any:
    """obs (N, O) → raw actions (N, D): the checkpoint's deterministic actor, or a baseline."""
    if options.agent != "policy":
        from training.baseline_agents import BaselineAgent

        return BaselineAgent(options.agent, env).act
    from training.checkpoint_checks import check_policy_fits
    from training.ppo.agent import PPOAgent

    assert payload is not None
    agent = PPOAgent(env.config.agent, env.num_obs, env.num_actions, device=str(env.device), seed=env.config.seed)
    check_policy_fits(payload, str(options.checkpoint), env.config.robot_name, agent)
    agent.load_state_dict(payload["model"]["agent"])
    return agent.policy


def output_dir_for(options: InferenceOptions, config: Any) -> Path:
    from evaluation.eval_outputs import new_eval_dir

    if options.output_dir:
        path = Path(options.output_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    if options.checkpoint:
        return new_eval_dir(Path(options.checkpoint).resolve().parent)
    return new_eval_dir(Path("results") / f"{options.agent}_baseline")


def run_inference(options: InferenceOptions) -> int:
    """The command's body; returns the exit status."""
    from training.envs.factory import check_motion_lib_robot, load_motion_lib, make_env
    from training.run_layout import keep_eval_dirs

    config, payload = build_inference_config(options)
    keep_eval_dirs()  # a bad MIMIC_KEEP_EVAL_DIRS fails now, not after the evaluation
    motion_lib = load_motion_lib(config)
    source = f"the checkpoint {options.checkpoint}" if payload is not None else options.experiment_path
    check_motion_lib_robot(motion_lib, config.robot_name, source)  # before saying anything about it
    if options.full_eval and config.num_envs > motion_lib.num_motions:
        # Each motion plays once in its own env: more envs than motions would only be parked
        # (ProtoMotions' --num-envs 1024 on 3 motions built 1,024 worlds for 39 s and 1.7 GB).
        asked = f"--num-envs {config.num_envs}" if "num_envs" in options.flags else f"the config's {config.num_envs}"
        log.info(
            f"full-eval: {motion_lib.num_motions} motion(s) in {config.motion_file}, so "
            f"{motion_lib.num_motions} env(s) rather than {asked}"
        )
        config.num_envs = motion_lib.num_motions
    env, motion_md5 = make_env(config, motion_lib=motion_lib, config_source=source)
    try:
        policy = make_policy(options, env, payload)
        if options.full_eval:
            epoch = payload.get("epoch") if payload is not None else None
            return _full_eval(options, config, env, policy, motion_md5, epoch)
        return _run_continuously(options, env, policy)
    finally:
        env.sim.close()


def _full_eval(
    options: InferenceOptions, config: Any, env: Any, policy: Any, motion_md5: str, epoch: Optional[int]
) -> int:
    import time

    from evaluation.eval_outputs import write_eval_outputs
    from evaluation.evaluator import evaluate

    started = time.perf_counter()
    result = evaluate(env, policy, max_frames=options.max_frames, progress=not options.quiet)
    seconds = time.perf_counter() - started
    motion_seconds = sum((row["frames"] - 1) * env.dt for row in result.rows)
    summary = dict(
        result.summary,
        checkpoint=str(options.checkpoint or ""),
        agent=options.agent,
        epoch=epoch,
        motion_file=config.motion_file,
        motion_file_md5=motion_md5,
        simulator=config.simulator,
        num_envs=env.num_envs,
        wall_seconds=round(seconds, 3),
        motion_seconds_per_wall_second=round(motion_seconds / max(seconds, 1e-9), 3),
    )
    label = str(env.motion_lib.metadata.get("split_label") or "")
    if label:  # a validation/test MotionLib made of train clips (motion.motion_lib_splits): say so everywhere
        summary["motion_lib_label"] = label
    out_dir = output_dir_for(options, config)
    paths = write_eval_outputs(out_dir, result.rows, summary, result.predicted_motion_lib)
    if not options.output_dir:  # a run's eval/<time>/: the newest few and the best are kept
        from evaluation.eval_outputs import prune_eval_dirs
        from training.run_layout import keep_eval_dirs

        prune_eval_dirs(out_dir.parent.parent, keep_eval_dirs())
    from training import pipes_reporting

    pipes_reporting.report_log(  # no-op unless Dagster launched this process
        f"full-eval: success rate {summary['Eval/success_rate']:.4f} over {summary['num_motions']} motions, "
        f"gt_err {summary['Eval/gt_err']:.4f} m{' ' + label if label else ''}; wrote {out_dir}"
    )
    if not options.quiet:
        log.info(format_summary(summary))
        if len(result.rows) <= PER_MOTION_TABLE_MAX:
            log.info(format_motion_table(result.rows))
        log.info(f"wrote {out_dir}: " + ", ".join(sorted(p.name for p in paths.values())))
    return 0


def format_summary(summary: Dict[str, Any]) -> str:
    """The printed result of a full evaluation: headline, every metric (all / successful), the
    PHC metrics (all / successful, when the summary has them), subsets."""
    from evaluation.metrics import METRIC_UNITS

    lines = [
        f"Eval/success_rate {summary['Eval/success_rate']:.4f} "
        f"({summary['num_success']}/{summary['num_motions']} motions)   Eval/gt_err {summary['Eval/gt_err']:.4f} m"
        + (f"   {summary['motion_lib_label']}" if summary.get("motion_lib_label") else "")
    ]
    lines.append(f"{'metric':<18}{'all':>12}{'successful':>12}  unit")
    for name, value in summary["all"].items():
        ok = summary["success"].get(name)
        lines.append(f"{name:<18}{_num(value):>12}{_num(ok):>12}  {METRIC_UNITS.get(name, '')}")
    lines.extend(_phc_lines(summary.get("phc")))
    for subset, part in sorted(summary.get("by_subset", {}).items()):
        lines.append(f"subset {subset or '(unknown)'}: success {part['num_success']}/{part['num_motions']}")
    return "\n".join(lines)


#: Full-evals of at most this many motions also print one line per motion.
PER_MOTION_TABLE_MAX = 100


def format_motion_table(rows: List[Dict[str, Any]]) -> str:
    """One line per evaluated motion: tracked to its end or not, frames survived (before the
    mean body error first passed the failure threshold) of the frames played, E_g-mpjpe."""
    width = max(len(Path(str(row["file"])).stem) for row in rows)
    lines = [f"{'clip':<{width}}  {'tracked':<7}  {'frames survived':>15}  {'E_g-mpjpe (mm)':>14}"]
    for row in rows:
        frames = int(row["frames"])
        survived = frames if row["success"] else int(row["failure_frame"])
        lines.append(
            f"{Path(str(row['file'])).stem:<{width}}  {'yes' if row['success'] else 'no':<7}  "
            f"{f'{survived}/{frames}':>15}  {float(row['e_g_mpjpe']):>14.1f}"
        )
    return "\n".join(lines)


def _phc_lines(phc: Optional[Dict[str, Any]]) -> List[str]:
    """One line per group of ``summary["phc"]`` (none without it): PHC's frame-weighted numbers,
    labelled as such because they differ from the motion-weighted table above."""
    from evaluation.phc_metrics import PHC_METRIC_NAMES, PHC_METRIC_UNITS

    if not phc:
        return []
    lines = []
    for label, key in (("all", "all"), ("successful", "success")):
        group = phc[key]
        values = ", ".join(f"{name} {_num(group[name])} {PHC_METRIC_UNITS[name]}" for name in PHC_METRIC_NAMES)
        lines.append(
            f"PHC {label} ({group['num_motions']} motions, {group['num_frames']} frames, frame-weighted): {values}"
        )
    return lines


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _run_continuously(options: InferenceOptions, env: Any, policy: Any) -> int:
    """Training-style episodes (resets included): in MuJoCo's viewer (env 0) when a display
    exists, until the window closes or ``steps`` steps; else ``steps`` (default 300) headless."""
    from contextlib import ExitStack

    obs = env.reset()
    interactive = not options.headless and bool(os.environ.get("DISPLAY")) and options.record is None
    if (interactive or options.record) and not hasattr(env.sim, "datas"):
        raise ValueError(
            f"the viewer and --record show the mujoco backend's worlds, not {env.config.simulator!r}'s: "
            "pass --simulator mujoco, or --headless without --record"
        )
    returns: List[float] = []
    with ExitStack() as stack:
        if interactive:
            from evaluation.viewer_window import passive_viewer

            viewer = stack.enter_context(passive_viewer(env.sim.model, env.sim.datas[0]))
            steps = _step_in_viewer(env, policy, obs, viewer, options.steps, returns)
        else:
            steps = 300 if options.steps is None else options.steps
            writer, renderer = _video_writer(options, env, stack)
            for _ in range(steps):
                obs, _reward, _terminated, _truncated, info = env.step(policy(obs))
                if "episode" in info:
                    returns.extend(float(r) for r in info["episode"]["return"])
                if writer is not None:
                    writer.write(renderer.render(env.sim.datas[0], text_lines=_overlay(env)))
    if not options.quiet:
        mean = sum(returns) / len(returns) if returns else float("nan")
        where = "in the viewer" if interactive else "headless"
        log.info(
            f"ran {steps} steps x {env.num_envs} envs {where}; {len(returns)} episodes ended, mean return {mean:.3f}"
        )
        if options.record:
            log.info(f"wrote {options.record}")
    return 0


def _step_in_viewer(
    env: Any, policy: Any, obs: Any, viewer: Any, max_steps: Optional[int], returns: List[float]
) -> int:
    """Step at the control rate showing env 0, until the window closes or ``max_steps``; returns the steps run."""
    import time

    steps = 0
    while viewer.is_running() and (max_steps is None or steps < max_steps):
        started = time.perf_counter()
        obs, _reward, _terminated, _truncated, info = env.step(policy(obs))
        if "episode" in info:
            returns.extend(float(r) for r in info["episode"]["return"])
        viewer.sync()
        steps += 1
        time.sleep(max(0.0, env.dt - (time.perf_counter() - started)))
    return steps


def _video_writer(options: InferenceOptions, env: Any, stack: Any) -> Tuple[Any, Any]:
    """A video of env 0 at the control rate (the file appears, atomically, when the run ends)."""
    if not options.record:
        return None, None
    from evaluation.rendering import OffscreenRenderer
    from evaluation.video import VideoWriter

    renderer = stack.enter_context(OffscreenRenderer(env.sim.model, width=640, height=480))
    writer = stack.enter_context(VideoWriter(options.record, fps=round(1.0 / env.dt), width=640, height=480))
    return writer, renderer


def _overlay(env: Any) -> List[str]:
    motion = int(env.motion_ids[0])
    files = env.motion_lib.motion_files
    name = Path(files[motion]).stem if motion < len(files) and files[motion] else f"motion {motion}"
    return [name, f"t = {float(env.motion_times[0]):.2f} s"]
