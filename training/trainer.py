"""`mimic train`: build the config, pick fresh/resume/warm start, run ranks, loop epochs.

One epoch = ``PPOAgent.collect`` (``num_steps`` control steps of every env) + ``update``.
Rank 0 owns the run directory (checkpoints, metrics.csv, resolved_config.yaml); with
``--ngpu N`` > 1 every rank is its own process joined by torch.distributed (gloo on CPU), and
gradients and normaliser moments are averaged across ranks inside the agent. Under torchrun
(``--nodes M``, multi-node) torchrun starts the processes and each one is a single rank
(training/launch.py).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from evaluation.training_evaluation import evaluation_due
from training import launch, pipes_reporting
from training.config import ExperimentConfig
from training.run_dir import RunDir, StartKind, StartMode

#: CLI flags that are shortcuts for config fields (ProtoMotions' flag names).
FLAG_FIELDS = {
    "robot_name": "robot_name",
    "robot_xml": "robot_xml",
    "simulator": "simulator",
    "device": "device",
    "motion_file": "motion_file",
    "num_envs": "num_envs",
    "batch_size": "agent.batch_size",
    "ngpu": "ngpu",
    "seed": "seed",
    "training_max_steps": "agent.training_max_steps",
    "max_epochs": "agent.max_epochs",
    "num_threads": "num_threads",
}
#: Keys a resumed run takes from the new command line (to extend a run), not from the checkpoint.
RESUME_KEEPS = ("agent.max_epochs", "agent.training_max_steps")
#: Keys a resumed run takes from the command line only when given there: where the robot model
#: file lives is a fact of this machine (a run resumed elsewhere names it again).
RESUME_KEEPS_WHEN_GIVEN = ("robot_xml",)


@dataclass
class TrainOptions:
    experiment_path: str
    experiment_name: str
    flags: Dict[str, Any] = field(default_factory=dict)  # FLAG_FIELDS keys given on the command line
    overrides: List[str] = field(default_factory=list)
    results_dir: str = "results"
    checkpoint: Optional[str] = None
    use_wandb: bool = False
    quiet: bool = False
    nodes: int = 1  # nodes of a torchrun job (each runs config.ngpu ranks)


def build_config(options: TrainOptions) -> ExperimentConfig:
    """Experiment file, then the shortcut flags, then ``--overrides`` (later wins)."""
    from training.experiment_loader import load_experiment
    from training.overrides import apply_overrides

    config = load_experiment(options.experiment_path)
    flag_items = [f"{FLAG_FIELDS[name]}={value}" for name, value in options.flags.items() if value is not None]
    config = apply_overrides(config, flag_items + [f"experiment_name={options.experiment_name}"])
    return apply_overrides(config, options.overrides)


def train(options: TrainOptions) -> int:
    """Run (or resume) a training run; returns the process exit status."""
    from training.run_dir import decide_start, read_resolved_config, resume_config

    requested = build_config(options)
    run = RunDir.for_experiment(options.results_dir, options.experiment_name)
    start = decide_start(run, options.checkpoint)
    config = requested
    if start.kind is StartKind.RESUME:
        saved = read_resolved_config(run.resolved_config, ExperimentConfig)
        given = tuple(key for key in RESUME_KEEPS_WHEN_GIVEN if getattr(requested, key))
        config, warnings = resume_config(saved, requested, keep_from_request=RESUME_KEEPS + given)
        for warning in warnings:
            print(f"mimic train: resume: {warning}", file=sys.stderr)
        print(f"mimic train: resuming from {start.checkpoint}")
    elif start.kind is StartKind.WARM_START:
        print(f"mimic train: warm start from {start.checkpoint} (weights only)")
    if start.ignored_checkpoint_arg is not None:
        print(f"mimic train: --checkpoint {start.ignored_checkpoint_arg} ignored: resuming {run.last_checkpoint}")
    if not config.motion_file:
        raise ValueError("no motion file: pass --motion-file or set motion_file in the experiment")
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
            options.nodes, config.ngpu, options.experiment_name, launch.train_arguments(options, FLAG_FIELDS)
        )
        print(
            f"mimic train: --nodes {options.nodes} runs under torchrun; on each node (HEAD: the first node's host "
            f"name, results dir on a shared file system) run:\n{command}",
            file=sys.stderr,
        )
        return 2
    if config.ngpu <= 1:
        return run_rank(0, 1, "", options, config, start)
    # A rendezvous file rather than a probed TCP port: no race for the port between probing and
    # binding (a TCP rendezvous aborted rank 0 now and then on this machine).
    with tempfile.TemporaryDirectory(prefix="mimic-ranks-") as rendezvous_dir:
        init_method = f"file://{os.path.join(rendezvous_dir, 'rendezvous')}"
        torch.multiprocessing.spawn(
            run_rank, args=(config.ngpu, init_method, options, config, start), nprocs=config.ngpu
        )
    return 0


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
    from training.ppo.agent import PPOAgent

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
    env, motion_md5 = make_env(config, rank, world_size, threads, local_rank=device_index)
    agent = PPOAgent(config.agent, env.num_obs, env.num_actions, device=str(env.device), seed=config.seed + rank)
    loop = _EpochLoop(rank, options, config, start, run, env, agent, motion_md5)
    try:
        return loop.run()
    finally:
        env.sim.close()
        if world_size > 1:
            torch.distributed.barrier()  # no rank tears the group down while another still uses it
            torch.distributed.destroy_process_group()


def make_env(
    config: ExperimentConfig, rank: int = 0, world_size: int = 1, threads: int = 0, local_rank: int = 0
) -> Any:
    """Simulator + MotionLib + MimicEnv for one rank, all on the rank's device
    (:func:`training.devices.resolve_device`); also returns the MotionLib file's md5."""
    from motion.io_utils import file_md5
    from motion.motion_lib import MotionLib
    from motion.motion_lib_shards import resolve_motion_file
    from robots.registry import robot_by_name
    from training.devices import resolve_device
    from training.envs.mimic_env import MimicEnv
    from training.simulator import create_simulator
    from training.simulator.base import SimulatorConfig
    from training.terrain import build_terrain

    motion_path = resolve_motion_file(config.motion_file, rank, world_size)
    device = resolve_device(config.simulator, config.device, local_rank)
    motion_lib = MotionLib.from_file(motion_path, device=device)
    sim_config = SimulatorConfig(
        num_envs=config.num_envs,
        physics_hz=config.env.physics_hz,
        decimation=config.env.decimation,
        num_threads=threads,
        seed=config.seed + rank,
        terrain=build_terrain(config.env.terrain),
        device=str(device),
    )
    robot = robot_by_name(config.robot_name, robot_xml=config.robot_xml or None)
    simulator = create_simulator(config.simulator, robot, sim_config)
    generator = torch.Generator(device=device).manual_seed(config.seed + rank)
    return MimicEnv(config, simulator, motion_lib, generator), file_md5(motion_path)


class _EpochLoop:
    """The epoch loop of one rank, with rank 0's bookkeeping (files, progress, wandb)."""

    def __init__(self, rank, options, config, start, run, env, agent, motion_md5) -> None:
        self.rank, self.options, self.config, self.start = rank, options, config, start
        self.run_dir, self.env, self.agent, self.motion_md5 = run, env, agent, motion_md5
        self.is_main = rank == 0
        self.wandb: Any = None
        self.started = time.time()
        self.earlier_wall_seconds = 0.0  # training time of the processes this run resumed from
        self.best_score = float("-inf")  # best Eval/success_rate so far (score_based.ckpt)
        self.evaluations = 0
        self.lineage: Dict[str, Any] = {}  # collected by rank 0 when the run starts

    def run(self) -> int:
        from training.ppo import distributed
        from training.run_dir import load_checkpoint, restore_rng_state

        if self.start.kind is not StartKind.FRESH:
            payload = load_checkpoint(self.start.checkpoint)
            self.agent.load_state_dict(payload["model"]["agent"])
            if self.start.kind is StartKind.RESUME:
                states = payload["rng_states"]
                if len(states) == distributed.world_size() and self._same_device_kind(states[self.rank]):
                    # same ranks on the same kind of device: each rank continues its own streams
                    state = states[self.rank]
                    restore_rng_state(state)
                    self.agent.generator.set_state(state["agent_generator"])
                    self.env.generator.set_state(state["env_generator"])
                    # Episodes in flight continue exactly where they were (when the backend can
                    # save its physics); otherwise the first collect restarts them.
                    if state.get("env") is not None and state.get("rollout") is not None:
                        self.agent.resume_rollout(self.env, state["rollout"])
                        self.env.load_state_dict(state["env"])
                if payload.get("motion_weights") is not None:
                    self.env.motion_lib.motion_weights = payload["motion_weights"]
                counters = payload.get("counters", {})
                self.earlier_wall_seconds = float(counters.get("training_wall_seconds", 0.0))
                self.best_score = float(counters.get("best_evaluated_score", self.best_score))
                self.evaluations = int(counters.get("eval_count", 0))
            else:  # warm start: weights only, counters from zero
                self.agent.epoch, self.agent.env_steps = 0, 0
        if self.is_main:  # before any save: a resumed run overwrites the last.ckpt it is hashing
            self.lineage = self._collect_lineage()
        metrics_csv = self._prepare_files()
        try:
            while not self._finished():
                rollout = self.agent.collect(self.env)
                metrics = self.agent.update()
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
        except KeyboardInterrupt:
            self._save(self.run_dir.last_checkpoint)
            if self.is_main:
                print(f"\ninterrupted at epoch {self.agent.epoch}; saved {self.run_dir.last_checkpoint}")
                self._summary()
            return 130
        self._save(self.run_dir.last_checkpoint)
        if self.is_main:
            self._summary()
            pipes_reporting.report_final_checkpoint(self.run_dir.last_checkpoint)  # Dagster only
            if self.wandb is not None:
                self.wandb.finish()
        return 0

    def _evaluate(self) -> Dict[str, float]:
        """Training-time evaluation (every rank takes part); keeps score_based.ckpt for the best
        success rate (ties go to the later, longer-trained policy, as in ProtoMotions)."""
        from evaluation.training_evaluation import run_training_evaluation

        self.evaluations += 1
        shared = "slurmrank" not in self.config.motion_file
        root = self.run_dir.root if self.is_main else None
        metrics = run_training_evaluation(self.env, self.agent, root, self.evaluations, shared)
        if metrics["Eval/success_rate"] >= self.best_score:
            self.best_score = metrics["Eval/success_rate"]
            self._save(self.run_dir.score_based_checkpoint)
        return metrics

    def _wall_seconds(self) -> float:
        """Wall time this run has trained, summed over the processes it was resumed through."""
        return self.earlier_wall_seconds + time.time() - self.started

    def _same_device_kind(self, state: Dict[str, Any]) -> bool:
        """Whether ``state``'s generators were saved on this run's kind of device: CPU and CUDA
        generator states differ in format, so a run moved between them starts new random streams."""
        same = all(
            state[key].numel() == generator.get_state().numel()
            for key, generator in (("agent_generator", self.agent.generator), ("env_generator", self.env.generator))
        )
        if not same and self.is_main:
            print("mimic train: resume: the checkpoint's random streams are from another device: new streams")
        return same

    def _finished(self) -> bool:
        agent_config = self.config.agent
        if agent_config.max_epochs and self.agent.epoch >= agent_config.max_epochs:
            return True
        return self.agent.env_steps >= agent_config.training_max_steps

    def _prepare_files(self) -> Any:
        run = self.run_dir
        if not self.is_main:
            return None
        run.root.mkdir(parents=True, exist_ok=True)
        run.write_resolved_config(self.config)
        run.copy_experiment_file(self.options.experiment_path)
        metrics_csv = run.metrics()
        if self.start.kind is StartKind.RESUME:
            metrics_csv.truncate_after(self.agent.epoch)
        if self.options.use_wandb:
            self.wandb = _start_wandb(self.config, run)
        return metrics_csv

    def _checkpoint_on_cadence(self) -> None:
        from training.run_dir import should_save_epoch, should_save_last

        epoch = self.agent.epoch
        if should_save_last(epoch):
            self._save(self.run_dir.last_checkpoint)
        if should_save_epoch(epoch):
            self._save(self.run_dir.epoch_checkpoint(epoch))

    def _save(self, path: Path) -> None:
        """Every rank takes part (RNG states are gathered); rank 0 writes."""
        from training.lineage import utc_now
        from training.ppo import distributed
        from training.run_dir import capture_rng_state, make_checkpoint, save_checkpoint

        rng = capture_rng_state()
        # This rank's own generators too: action noise/shuffling (agent) and motion sampling (env).
        rng["agent_generator"] = self.agent.generator.get_state()
        rng["env_generator"] = self.env.generator.get_state()
        rng["env"] = self.env.state_dict()
        rng["rollout"] = self.agent.rollout_state()
        states = [rng]
        # Networks (with normalisers) and optimisers are data parallel; the rest of the agent's
        # state (its RNG, recent episode returns) is each rank's own.
        agent_state = self.agent.state_dict()
        shared = ("actor", "critic", "actor_optimizer", "critic_optimizer")
        weight_md5s = [_state_md5({key: agent_state[key] for key in shared})]
        if distributed.is_distributed():
            states = [None] * distributed.world_size()
            torch.distributed.all_gather_object(states, rng)
            gathered: List[Any] = [None] * distributed.world_size()
            torch.distributed.all_gather_object(gathered, weight_md5s[0])
            weight_md5s = gathered
        if not self.is_main:
            return
        if len(set(weight_md5s)) > 1:  # the checkpoint holds rank 0's weights: say if ranks drifted apart
            print(f"mimic train: warning: ranks' weights differ at epoch {self.agent.epoch}", file=sys.stderr)
        lineage = dict(self.lineage, created=utc_now())
        payload = make_checkpoint(
            epoch=self.agent.epoch,
            step_count=self.agent.env_steps,
            models={"agent": self.agent.state_dict()},
            optimizers={},
            config=self.config,
            rng_states=states,
            motion_weights=self.env.motion_lib.motion_weights.cpu(),
            counters={
                "run_start_time": self.started,
                "training_wall_seconds": self._wall_seconds(),
                "best_evaluated_score": self.best_score,
                "eval_count": self.evaluations,
            },
            lineage=lineage,
            extra={"rank_weights_md5": weight_md5s},  # one per rank: equal when data parallelism held
        )
        save_checkpoint(path, payload)

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
        print(
            f"epoch {metrics['epoch']:>6} | {metrics.get('Train/fps', 0.0):>9,.0f} env-steps/s | "
            f"reward {reward:8.3f} | ep len {length:7.1f} | clip_frac {metrics.get('Train/clip_frac', 0.0):.3f} | "
            f"term {metrics.get('env/termination_rate', 0.0):.3f}"
            + (f" | success {metrics['Eval/success_rate']:.3f}" if "Eval/success_rate" in metrics else ""),
            flush=True,
        )

    def _summary(self) -> None:
        minutes = (time.time() - self.started) / 60
        print(
            f"run {self.options.experiment_name}: {self.agent.epoch} epochs, {self.agent.env_steps:,} env steps, "
            f"{minutes:.1f} min; files in {self.run_dir.root}"
        )


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
