"""`mimic train`: build the config, pick fresh/resume/warm start, run ranks, loop epochs.

One epoch = ``PPOAgent.collect`` (``num_steps`` control steps of every env) + ``update``.
Rank 0 owns the run directory (checkpoints, metrics.csv, resolved_config.yaml); with
``--ngpu N`` > 1 every rank is its own process joined by torch.distributed (gloo on CPU), and
gradients and normaliser moments are averaged across ranks inside the agent. Under torchrun
(``--nodes M``, multi-node) torchrun starts the processes and each one is a single rank
(training/launch.py).
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from training import launch, pipes_reporting
from training.config import ExperimentConfig
from training.periodic_evaluation import PeriodicEvaluation, evaluation_due
from training.run_layout import RunDir
from training.start_mode import StartKind, StartMode
from training.stop_requests import StopRequests

log = logging.getLogger(__name__)

#: agent.training_max_steps' default (ProtoMotions' 1e13): a run with this bound and no max_epochs has no end.
UNBOUNDED_STEPS = 10**13
#: Keys a resumed run takes from the new command line (to extend a run), not from the checkpoint.
RESUME_KEEPS = ("agent.max_epochs", "agent.training_max_steps")
#: Keys a resumed run takes from the command line only when given there: where the robot model
#: file lives and how many CPU threads to use are facts of this machine (a run resumed elsewhere
#: names them again; a busy machine runs far faster on one thread than on two that fight).
RESUME_KEEPS_WHEN_GIVEN = ("robot_xml", "num_threads")


@dataclass
class TrainOptions:
    experiment_path: str
    experiment_name: str
    flags: Dict[str, Any] = field(default_factory=dict)  # typed values of TRAIN_FLAGS given (by dest)
    overrides: List[str] = field(default_factory=list)
    results_dir: str = "results"
    checkpoint: Optional[str] = None
    use_wandb: bool = False
    quiet: bool = False
    nodes: int = 1  # nodes of a torchrun job (each runs config.ngpu ranks)
    # Runs the evaluation due every agent.eval_metrics_every epochs (training/periodic_evaluation.py);
    # `mimic train` passes evaluation.training_evaluation.run_training_evaluation.
    periodic_evaluation: Optional[PeriodicEvaluation] = None


def build_config(options: TrainOptions) -> ExperimentConfig:
    """Experiment file, then the shortcut flags (typed values), then ``--overrides`` (later wins);
    every count in range (:func:`training.config_checks.check_config_counts`)."""
    from training.command_flags import TRAIN_FLAGS, apply_flag_values
    from training.config_checks import check_config_counts
    from training.experiment_loader import load_experiment
    from training.overrides import apply_overrides, set_value

    config = apply_flag_values(load_experiment(options.experiment_path), TRAIN_FLAGS, options.flags)
    set_value(config, "experiment_name", options.experiment_name)
    config = apply_overrides(config, options.overrides)
    check_config_counts(config, f"{options.experiment_path} with the command line")
    return config


def train(options: TrainOptions) -> int:
    """Run (or resume) a training run; returns the process exit status."""
    from motion.errors import ConfigError
    from training.config_checks import check_config_counts
    from training.resolved_config import read_resolved_config
    from training.run_layout import keep_epoch_checkpoints, keep_eval_dirs
    from training.start_mode import decide_start, resume_config

    if options.nodes < 1:
        raise ConfigError("command line", "--nodes", "a positive number of nodes", repr(options.nodes))
    requested = build_config(options)
    keep_epoch_checkpoints(), keep_eval_dirs()  # a bad MIMIC_KEEP_* value fails now, not at epoch 1000
    run = RunDir.for_experiment(options.results_dir, options.experiment_name)
    start = decide_start(run, options.checkpoint)
    config = requested
    if start.kind is StartKind.RESUME:
        saved = read_resolved_config(run.resolved_config, ExperimentConfig)
        given = tuple(key for key in RESUME_KEEPS_WHEN_GIVEN if getattr(requested, key))
        # resume_config logs what the saved config keeps over the request (once: it used to be printed twice)
        config, _ = resume_config(saved, requested, keep_from_request=RESUME_KEEPS + given)
        check_config_counts(config, str(run.resolved_config))  # the saved config may have been edited
        log.info(f"mimic train: resuming from {start.checkpoint}; {_resume_promise(config)}")
    elif start.kind is StartKind.WARM_START:
        log.info(f"mimic train: warm start from {start.checkpoint} (weights only)")
    if start.ignored_checkpoint_arg is not None:
        log.info(f"mimic train: --checkpoint {start.ignored_checkpoint_arg} ignored: resuming {run.last_checkpoint}")
    if not config.motion_file:
        raise ValueError("no motion file: pass --motion-file or set motion_file in the experiment")
    if config.agent.eval_metrics_every > 0 and options.periodic_evaluation is None:
        raise ValueError(
            f"agent.eval_metrics_every={config.agent.eval_metrics_every} but no periodic evaluation was given: "
            "set TrainOptions.periodic_evaluation (mimic train passes "
            "evaluation.training_evaluation.run_training_evaluation) or agent.eval_metrics_every=0"
        )
    launched = launch.torchrun_rank()
    if launched is not None:  # torchrun started this process: it is one rank of the job
        expected = options.nodes * config.ngpu
        if launched.world_size != expected:
            raise ValueError(
                f"torchrun started WORLD_SIZE={launched.world_size} processes but --nodes {options.nodes} x "
                f"--ngpu {config.ngpu} asks for {expected}: give torchrun --nnodes/--nproc-per-node to match"
            )
        return run_rank(launched.rank, launched.world_size, "env://", options, config, start, launched.local_rank)
    if options.nodes > 1:
        command = launch.torchrun_command(
            options.nodes, config.ngpu, options.experiment_name, launch.train_arguments(options)
        )
        log.warning(
            f"mimic train: --nodes {options.nodes} runs under torchrun; on each node (HEAD: the first node's host "
            f"name, results dir on a shared file system) run:\n{command}"
        )
        return 2
    if config.ngpu <= 1:
        return run_rank(0, 1, "", options, config, start)
    # A rendezvous file rather than a probed TCP port: no race for the port between probing and
    # binding (a TCP rendezvous aborted rank 0 now and then on this machine).
    # A Ctrl-C reaches the ranks too: they stop together and save; this process waits for them
    # (its own KeyboardInterrupt would abandon them mid-save).
    with tempfile.TemporaryDirectory(prefix="mimic-ranks-") as rendezvous_dir, StopRequests() as stop:
        init_method = f"file://{os.path.join(rendezvous_dir, 'rendezvous')}"
        torch.multiprocessing.spawn(
            run_rank, args=(config.ngpu, init_method, options, config, start), nprocs=config.ngpu
        )
    return 130 if stop.requested else 0


def run_rank(
    rank: int,
    world_size: int,
    init_method: str,
    options: TrainOptions,
    config: ExperimentConfig,
    start: StartMode,
    local_rank: Optional[int] = None,
) -> int:
    """One rank's whole run: simulator, env, agent, epochs, checkpoints.

    ``rank`` is global (seeds, MotionLib shard, rank 0 writes the files); ``local_rank`` (default:
    ``rank``, one node) selects this process's GPU.
    """
    from motion.console_logging import configure_console_logging
    from training.envs.factory import make_env
    from training.ppo.agent import PPOAgent

    configure_console_logging()  # a spawned rank is a fresh interpreter: its messages reach the console too
    device_index = rank if local_rank is None else local_rank  # this process's GPU, when it has one
    if world_size > 1:
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(device_index)
        backend = launch.process_group_backend(cuda)
        torch.distributed.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size)
    # SIGTERM (a scheduler's pre-emption, `timeout`) stops like Ctrl-C: save last.ckpt, summarise.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    ranks_here = world_size if local_rank is None else max(1, config.ngpu)  # processes on this node
    threads = config.num_threads or max(1, (os.cpu_count() or 1) // ranks_here)
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed + rank)
    run = RunDir.for_experiment(options.results_dir, options.experiment_name)
    source = (
        str(run.resolved_config)
        if start.kind is StartKind.RESUME
        else f"{options.experiment_path} with the command line"
    )
    env, motion_md5 = make_env(config, rank, world_size, threads, local_rank=device_index, config_source=source)
    agent = PPOAgent(config.agent, env.num_obs, env.num_actions, device=str(env.device), seed=config.seed + rank)
    loop = _EpochLoop(rank, options, config, start, run, env, agent, motion_md5)
    try:
        return loop.run()
    finally:
        env.sim.close()
        if world_size > 1:
            torch.distributed.barrier()  # no rank tears the group down while another still uses it
            torch.distributed.destroy_process_group()


class _EpochLoop:
    """The epoch loop of one rank, with rank 0's bookkeeping (files, progress, wandb)."""

    def __init__(self, rank, options, config, start, run, env, agent, motion_md5) -> None:
        self.rank, self.options, self.config, self.start = rank, options, config, start
        self.run_dir, self.env, self.agent, self.motion_md5 = run, env, agent, motion_md5
        self.is_main = rank == 0
        self.wandb: Any = None
        self.started = time.time()
        self.first_epoch = self.first_env_steps = 0  # where this process started (set in run)
        self.earlier_wall_seconds = 0.0  # training time of the processes this run resumed from
        self.best_score = float("-inf")  # best Eval/success_rate so far (score_based.ckpt)
        self.evaluations = 0
        self.lineage: Dict[str, Any] = {}  # collected by rank 0 when the run starts
        self.stop_requests: Optional[StopRequests] = None  # Ctrl-C / SIGTERM seen while training
        self.stopping = False  # a stop was asked on some rank: every rank stops at the same point
        self.last_saved: Optional[tuple] = None  # (epoch, env steps) last.ckpt holds, when this process wrote it
        self.epoch_env_steps = 0  # env steps when the last finished epoch ended

    def run(self) -> int:
        from motion.errors import CheckpointError
        from training.checkpoint import load_checkpoint
        from training.checkpoint_checks import check_policy_fits
        from training.checkpoint_compact import is_inference_only
        from training.ppo import distributed
        from training.rank_state import restore_rank_state

        if self.start.kind is not StartKind.FRESH:
            payload = load_checkpoint(self.start.checkpoint)
            if self.start.kind is StartKind.RESUME and is_inference_only(payload):
                raise CheckpointError(
                    self.start.checkpoint, "model.agent", "a checkpoint with optimiser states to resume from",
                    "an inference-only checkpoint (mimic checkpoint compact --inference-only); warm-start from it "
                    "with --checkpoint in a new run instead",
                )  # fmt: skip
            check_policy_fits(payload, self.start.checkpoint, self.config.robot_name, self.agent)
            self.agent.load_state_dict(payload["model"]["agent"])
            if self.start.kind is StartKind.RESUME:
                states = payload["rank_states"]
                if len(states) == distributed.world_size() and self._same_device_kind(states[self.rank]):
                    # same ranks on the same kind of device: each rank continues its own streams
                    restore_rank_state(states[self.rank], self.agent, self.env)
                if payload.get("motion_weights") is not None:
                    self.env.motion_lib.motion_weights = payload["motion_weights"]
                failure_counts = (payload.get("extra") or {}).get("failure_counts")
                if self.env.failure_starts is not None and failure_counts is not None:
                    self.env.failure_starts.load_state_dict(failure_counts)
                counters = payload.get("counters", {})
                self.earlier_wall_seconds = float(counters.get("training_wall_seconds", 0.0))
                self.best_score = float(counters.get("best_evaluated_score", self.best_score))
                self.evaluations = int(counters.get("eval_count", 0))
            else:  # warm start: weights only, counters from zero
                self.agent.epoch, self.agent.env_steps = 0, 0
        self.first_epoch, self.first_env_steps = self.agent.epoch, self.agent.env_steps  # for the ETA
        self.epoch_env_steps = self.agent.env_steps
        if self.start.kind is StartKind.RESUME:
            self.last_saved = (self.agent.epoch, self.agent.env_steps)  # what last.ckpt already holds
            if self._finished():
                return self._nothing_to_train()
        if self.is_main:  # before any save: a resumed run overwrites the last.ckpt it is hashing
            self.lineage = self._collect_lineage()
        metrics_csv = self._prepare_files()
        # Ctrl-C / SIGTERM from here on are acted on at the next env step or between the parts of
        # an epoch (training/stop_requests.py), never inside a step, an update, an evaluation or
        # a save, so the checkpoint is whole and consistent whatever the user presses.
        with StopRequests(restore=not distributed.is_distributed()) as self.stop_requests:
            while not self._finished() and not self._stop_agreed():
                rollout = self.agent.collect(self.env, stop=self._stop_agreed)
                if rollout is None:  # stopped after an env step: that part-rollout is not trained on
                    break
                metrics = self.agent.update()
                self.epoch_env_steps = self.agent.env_steps
                metrics.update(rollout)
                metrics["epoch"], metrics["env_steps"] = self.agent.epoch, self.agent.env_steps
                metrics["wall_seconds"] = round(self._wall_seconds(), 3)
                if evaluation_due(self.agent.epoch, self.config.agent.eval_metrics_every):
                    metrics.update(self._evaluate())
                if self.is_main:
                    metrics_csv.append(metrics)
                    self._progress_line(metrics)
                    pipes_reporting.report_epoch(metrics)  # no-op unless Dagster launched us
                    if self.wandb is not None:
                        self.wandb.log(metrics, step=self.agent.epoch)
                self._checkpoint_on_cadence()
            if self.stopping and not self._finished():
                return self._stop_on_request()
            self._save_last()
        if self.is_main:
            self._summary()
            pipes_reporting.report_final_checkpoint(self.run_dir.last_checkpoint)  # Dagster only
            if self.wandb is not None:
                self.wandb.finish()
        return 0

    def _nothing_to_train(self) -> int:
        """A resume of a run already at its budget: last.ckpt, its lineage and the run's files are
        left exactly as they are (rewriting them changed the checkpoint's bytes and its recorded
        time, and a copy of an edited experiment file no longer matched the recorded hash)."""
        if self.is_main:
            budget = self.config.agent
            limit = f"training_max_steps {budget.training_max_steps:,}"
            if budget.max_epochs and self.agent.epoch >= budget.max_epochs:
                limit = f"max_epochs {budget.max_epochs}"
            log.info(
                f"mimic train: {self.run_dir.last_checkpoint} is already at epoch {self.agent.epoch} "
                f"({self.agent.env_steps:,} env steps; {limit}): nothing to train, no file rewritten; "
                "raise --max-epochs or --training-max-steps to train on"
            )
            pipes_reporting.report_final_checkpoint(self.run_dir.last_checkpoint)  # Dagster only
        return 0

    def _stop_agreed(self) -> bool:
        """Whether any rank was asked to stop; every rank calls this at the same points (a collective)."""
        from training.ppo import distributed

        asked = self.stop_requests is not None and self.stop_requests.requested
        if distributed.is_distributed():
            flag = torch.tensor([1.0 if asked else 0.0], device=self.agent.device)
            asked = bool(distributed.all_reduce_sum_(flag).item() > 0)
        self.stopping = self.stopping or asked
        return self.stopping

    def _stop_on_request(self) -> int:
        """Save last.ckpt (unless the cadence just saved this very state) and say what it keeps."""
        partial = self.agent.env_steps - self.epoch_env_steps  # steps of the epoch cut short
        self._save_last()
        if self.is_main:
            what = self.stop_requests.signal_name() if self.stop_requests is not None else "stop"
            dropped = ""
            if partial:
                dropped = f"; the {partial:,} env steps of epoch {self.agent.epoch + 1} were not trained on"
            log.info(
                f"\n{what}: interrupted at epoch {self.agent.epoch}; saved {self.run_dir.last_checkpoint}: every "
                f"finished epoch is kept (weights, optimisers, normalisers, random streams, metrics.csv) and the "
                f"episodes in flight{dropped}; rerun the same command to resume"
            )
            if self.stop_requests is not None and self.stop_requests.count > 1:
                log.info(f"({what} {self.stop_requests.count} times: the checkpoint was saved whole first)")
            self._summary()
        return 130

    def _save_last(self) -> None:
        """last.ckpt, unless it already holds this state (a cadence save at this very step)."""
        state = (self.agent.epoch, self.agent.env_steps)
        if state != self.last_saved:
            self._save(self.run_dir.last_checkpoint)
            self.last_saved = state

    def _evaluate(self) -> Dict[str, float]:
        """Training-time evaluation (every rank takes part); keeps score_based.ckpt for the best
        success rate (ties go to the later, longer-trained policy, as in ProtoMotions)."""
        self.evaluations += 1
        shared = "slurmrank" not in self.config.motion_file
        root = self.run_dir.root if self.is_main else None
        evaluate = self.options.periodic_evaluation
        assert evaluate is not None  # train() refuses a run with evaluations due and no hook
        metrics = evaluate(self.env, self.agent, root, self.evaluations, shared)
        if metrics["Eval/success_rate"] >= self.best_score:
            self.best_score = metrics["Eval/success_rate"]
            # The best policy is evaluated, shipped or warm-started from, never resumed (last.ckpt
            # is): inference-only, 25 MB instead of 126 MB for mlp.py's networks.
            self._save(self.run_dir.score_based_checkpoint, inference_only=True)
        return metrics

    def _wall_seconds(self) -> float:
        """Wall time this run has trained, summed over the processes it was resumed through."""
        return self.earlier_wall_seconds + time.time() - self.started

    def _same_device_kind(self, state: Dict[str, Any]) -> bool:
        """:func:`training.rank_state.same_device_kind`, said once when it is not."""
        from training.rank_state import same_device_kind

        same = same_device_kind(state, self.agent, self.env)
        if not same and self.is_main:
            log.info("mimic train: resume: the checkpoint's random streams are from another device: new streams")
        return same

    def _finished(self) -> bool:
        agent_config = self.config.agent
        if agent_config.max_epochs and self.agent.epoch >= agent_config.max_epochs:
            return True
        return self.agent.env_steps >= agent_config.training_max_steps

    def _prepare_files(self) -> Any:
        from training.experiment_loader import copy_experiment_file
        from training.metrics_csv import MetricsCSV
        from training.resolved_config import write_resolved_config

        run = self.run_dir
        if not self.is_main:
            return None
        run.root.mkdir(parents=True, exist_ok=True)
        write_resolved_config(run.resolved_config, self.config)
        copy_experiment_file(self.options.experiment_path, run.experiment_copy)
        metrics_csv = MetricsCSV(run.metrics_csv)
        if self.start.kind is StartKind.RESUME:
            metrics_csv.truncate_after(self.agent.epoch)
        if self.options.use_wandb:
            self.wandb = _start_wandb(self.config, run)
        return metrics_csv

    def _checkpoint_on_cadence(self) -> None:
        from training.run_layout import keep_epoch_checkpoints, should_save_epoch, should_save_last

        epoch = self.agent.epoch
        if should_save_last(epoch):
            self._save_last()
        if should_save_epoch(epoch):
            self._save(self.run_dir.epoch_checkpoint(epoch))
            keep = keep_epoch_checkpoints()
            for removed in self.run_dir.prune_epoch_checkpoints(keep) if self.is_main else []:
                log.info(f"mimic train: removed {removed.name}: the newest {keep} epoch checkpoints are kept")

    def _save(self, path: Path, inference_only: bool = False) -> None:
        """Every rank takes part (rank states are gathered); rank 0 writes (``inference_only``:
        the actor and its normaliser, :func:`training.checkpoint_compact.make_inference_only`)."""
        from training.checkpoint import make_checkpoint, save_checkpoint
        from training.checkpoint_compact import make_inference_only
        from training.lineage import utc_now
        from training.ppo import distributed
        from training.rank_state import capture_rank_state

        state = capture_rank_state(self.agent, self.env)
        states = [state]
        # Networks (with normalisers) and optimisers are data parallel; the rest of the agent's
        # state (its RNG, recent episode returns) is each rank's own.
        agent_state = self.agent.state_dict()
        shared = ("actor", "critic", "actor_optimizer", "critic_optimizer")
        weight_md5s = [_state_md5({key: agent_state[key] for key in shared})]
        if distributed.is_distributed():
            states = [None] * distributed.world_size()
            torch.distributed.all_gather_object(states, state)
            gathered: List[Any] = [None] * distributed.world_size()
            torch.distributed.all_gather_object(gathered, weight_md5s[0])
            weight_md5s = gathered
        if not self.is_main:
            return
        if len(set(weight_md5s)) > 1:  # the checkpoint holds rank 0's weights: say if ranks drifted apart
            log.warning(f"mimic train: warning: ranks' weights differ at epoch {self.agent.epoch}")
        lineage = dict(self.lineage, created=utc_now())
        payload = make_checkpoint(
            epoch=self.agent.epoch,
            env_steps=self.agent.env_steps,
            models={"agent": self.agent.state_dict()},
            config=self.config,
            rank_states=states,
            motion_weights=self.env.motion_lib.motion_weights.cpu(),
            counters={
                "run_start_time": self.started,
                "training_wall_seconds": self._wall_seconds(),
                "best_evaluated_score": self.best_score,
                "eval_count": self.evaluations,
            },
            lineage=lineage,
            extra=self._extra(weight_md5s),
        )
        if inference_only:
            make_inference_only(payload)
        save_checkpoint(path, payload)

    def _extra(self, weight_md5s: List[Any]) -> Dict[str, Any]:
        # rank_weights_md5: one per rank, equal when data parallelism held. failure_counts: the
        # failure-start memory, kept apart from the rank states so a compact checkpoint
        # (mimic checkpoint compact) that drops the episodes in flight still carries it.
        extra: Dict[str, Any] = {"rank_weights_md5": weight_md5s}
        if self.env.failure_starts is not None:
            extra["failure_counts"] = self.env.failure_starts.state_dict()
        return extra

    def _collect_lineage(self) -> Dict[str, Any]:
        from training.lineage import collect_lineage

        return collect_lineage(
            self.config,
            self.options.experiment_path,
            self.options.overrides,
            self.env.motion_lib.source,  # the file this rank loaded (a slurmrank pattern resolved)
            self.start,
            motion_file_md5=self.motion_md5,
        )

    def _progress_line(self, metrics: Dict[str, Any]) -> None:
        if self.options.quiet:
            return
        reward = metrics.get("Train/episode_reward", float("nan"))
        length = metrics.get("Train/episode_length", float("nan"))
        log.info(
            f"epoch {metrics['epoch']:>6} | {metrics.get('Train/fps', 0.0):>9,.0f} env-steps/s | "
            f"reward {reward:8.3f} | ep len {length:7.1f} | clip_frac {metrics.get('Train/clip_frac', 0.0):.3f} | "
            f"term {metrics.get('env/termination_rate', 0.0):.3f}"
            + (f" | success {metrics['Eval/success_rate']:.3f}" if "Eval/success_rate" in metrics else "")
            + f" | {self._clock()}"
        )

    def _clock(self) -> str:
        """``ETA h:mm:ss`` with an end, else ``elapsed h:mm:ss | N env steps`` (:func:`progress_clock`)."""
        agent, config = self.agent, self.config.agent
        return progress_clock(
            elapsed_s=time.time() - self.started,
            epochs_done=agent.epoch - self.first_epoch,
            steps_done=agent.env_steps - self.first_env_steps,
            epoch=agent.epoch,
            env_steps=agent.env_steps,
            max_epochs=config.max_epochs,
            max_steps=config.training_max_steps,
            run_seconds=self._wall_seconds(),
        )

    def _summary(self) -> None:
        minutes = (time.time() - self.started) / 60
        log.info(
            f"run {self.options.experiment_name}: {self.agent.epoch} epochs, {self.agent.env_steps:,} env steps, "
            f"{minutes:.1f} min; files in {self.run_dir.root}"
        )


def run_has_an_end(max_epochs: int, max_steps: int) -> bool:
    """Whether ``agent.max_epochs`` or ``agent.training_max_steps`` bounds the run. The default step
    bound (ProtoMotions' 1e13) is no end: at 100k env-steps/s it is three years away."""
    return max_epochs > 0 or max_steps < UNBOUNDED_STEPS


def progress_clock(
    elapsed_s: float,
    epochs_done: int,
    steps_done: int,
    epoch: int,
    env_steps: int,
    max_epochs: int,
    max_steps: int,
    run_seconds: float,
) -> str:
    """The time part of an epoch line.

    With an end (``max_epochs`` > 0 or ``max_steps`` below :data:`UNBOUNDED_STEPS`): ``ETA h:mm:ss``
    to whichever bound comes first, at the rate of this process so far (``epochs_done`` epochs and
    ``steps_done`` env steps in ``elapsed_s`` seconds; ``?`` before the first epoch). Without one:
    ``elapsed h:mm:ss | N env steps``: the run's training time (``run_seconds``, summed over
    resumes) and its env steps so far (all ranks), since an ETA to 1e13 steps means nothing.
    """
    from motion.progress import format_duration

    if not run_has_an_end(max_epochs, max_steps):
        return f"elapsed {format_duration(run_seconds)} | {env_steps:,} env steps"
    if epochs_done <= 0 or elapsed_s <= 0:
        return "ETA ?"
    per_epoch = elapsed_s / epochs_done
    steps_per_epoch = max(1, steps_done // epochs_done)
    left = (max_steps - env_steps) / steps_per_epoch
    if max_epochs:
        left = min(left, max_epochs - epoch)
    return f"ETA {format_duration(max(0.0, left) * per_epoch)}"


def _resume_promise(config: ExperimentConfig) -> str:
    """:func:`training.devices.resume_promise` for the device this run resolves to."""
    from training.devices import resolve_device, resume_promise

    try:
        return resume_promise(resolve_device(config.simulator, config.device))
    except ValueError:  # an impossible device request: the rank says so when it builds the env
        return "the device request cannot be met here"


def _start_wandb(config: ExperimentConfig, run: RunDir) -> Any:
    """Weights & Biases run with the resolved config; offline unless an API key is configured."""
    try:
        import wandb
    except ImportError:
        raise RuntimeError("--use-wandb needs the wandb package: pip install 'mimicflow[wandb]'") from None
    from training.overrides import config_to_dict

    mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return wandb.init(
        project="mimicflow", name=config.experiment_name, config=config_to_dict(config), dir=str(run.root), mode=mode
    )


def _state_md5(state: Any) -> str:
    """md5 over the tensors of a (nested) state dict, in key order: equal iff the weights are."""
    import hashlib

    digest = hashlib.md5()

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                digest.update(str(key).encode())
                visit(value[key])
        elif isinstance(value, torch.Tensor):
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        else:
            digest.update(repr(value).encode())

    visit(state)
    return digest.hexdigest()


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
