"""Run directory: paths and cadence, checkpoints (weights_only, atomic), RNG capture, metrics.csv,
resolved config, resume rule (training/run_layout.py, checkpoint.py, rank_state.py, metrics_csv.py,
resolved_config.py, start_mode.py)."""

from __future__ import annotations

import csv
import errno
import hashlib
import math
import os
import random
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from broken_checkpoints import assert_each_is_named
from fifo_guard import returns_within
from write_faults import LimitedDisk, denied, small_filesystem

from motion.errors import CheckpointError, ConfigError, OutputWriteError
from motion.io_utils import raw_opener
from training.checkpoint import check_plain_data, checkpoint_config, load_checkpoint, make_checkpoint, save_checkpoint
from training.config import ExperimentConfig
from training.experiment_loader import copy_experiment_file
from training.lineage import make_lineage
from training.metrics_csv import MetricsCSV
from training.overrides import apply_overrides, config_hash
from training.rank_state import capture_rng_state, restore_rng_state
from training.resolved_config import read_resolved_config, write_resolved_config
from training.run_layout import RunDir, keep_epoch_checkpoints, keep_eval_dirs, should_save_epoch, should_save_last
from training.start_mode import StartKind, decide_start, resume_config

REPO_ROOT = Path(__file__).resolve().parent.parent


def small_models() -> Tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(3)
    actor = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    critic = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    return actor, critic


def adam_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, obs: torch.Tensor) -> None:
    optimizer.zero_grad()
    model(obs).square().mean().backward()
    optimizer.step()


# --- paths and cadence ----------------------------------------------------------------------


def test_run_dir_paths(tmp_path: Path) -> None:
    run = RunDir.for_experiment(tmp_path / "results", "smpl_amass_flat")
    root = tmp_path / "results" / "smpl_amass_flat"
    assert run.root == root
    assert run.last_checkpoint == root / "last.ckpt"
    assert run.epoch_checkpoint(2000) == root / "epoch_2000.ckpt"
    assert run.score_based_checkpoint == root / "score_based.ckpt"
    assert run.resolved_config == root / "resolved_config.yaml"
    assert run.metrics_csv == root / "metrics.csv"
    assert run.experiment_copy == root / "experiment_config.py"
    assert not root.exists()  # nothing created until written
    with pytest.raises(ValueError, match="not a single directory name"):
        RunDir.for_experiment(tmp_path, "a/b")


def test_epoch_checkpoints_sorted_numerically(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    for name in ("epoch_10000.ckpt", "epoch_2000.ckpt", "epoch_1000.ckpt", "epoch_x.ckpt", "last.ckpt"):
        (tmp_path / name).write_bytes(b"")
    assert [n for n, _ in run.epoch_checkpoints()] == [1000, 2000, 10000]


def test_only_the_newest_epoch_checkpoints_are_kept(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    for name in ("epoch_1000.ckpt", "epoch_2000.ckpt", "epoch_10000.ckpt", "epoch_3000.ckpt", "last.ckpt",
                 "score_based.ckpt"):  # fmt: skip
        (tmp_path / name).write_bytes(name.encode())
    assert run.prune_epoch_checkpoints(0) == []  # 0 keeps them all
    assert run.prune_epoch_checkpoints(2) == [tmp_path / "epoch_1000.ckpt", tmp_path / "epoch_2000.ckpt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_10000.ckpt", "epoch_3000.ckpt", "last.ckpt", "score_based.ckpt"
    ]  # fmt: skip
    assert (tmp_path / "epoch_3000.ckpt").read_bytes() == b"epoch_3000.ckpt"


def test_how_many_outputs_are_kept_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIMIC_KEEP_EPOCH_CHECKPOINTS", raising=False)
    monkeypatch.delenv("MIMIC_KEEP_EVAL_DIRS", raising=False)
    assert (keep_epoch_checkpoints(), keep_eval_dirs()) == (3, 5)
    monkeypatch.setenv("MIMIC_KEEP_EPOCH_CHECKPOINTS", "0")
    monkeypatch.setenv("MIMIC_KEEP_EVAL_DIRS", " 12 ")
    assert (keep_epoch_checkpoints(), keep_eval_dirs()) == (0, 12)
    for bad in ("three", "-1", "2.5"):
        monkeypatch.setenv("MIMIC_KEEP_EVAL_DIRS", bad)
        with pytest.raises(ValueError, match=f"MIMIC_KEEP_EVAL_DIRS='{bad}': expected a whole number"):
            keep_eval_dirs()


def test_copy_experiment_file(tmp_path: Path) -> None:
    source = REPO_ROOT / "training" / "experiments" / "mimic" / "mlp.py"
    copied = copy_experiment_file(source, RunDir(tmp_path / "run").experiment_copy)
    assert copied.read_bytes() == source.read_bytes()


def test_cadence() -> None:
    assert [e for e in range(0, 41) if should_save_last(e)] == [10, 20, 30, 40]
    assert [e for e in range(0, 3001) if should_save_epoch(e)] == [1000, 2000, 3000]
    assert should_save_last(7, every=7) and not should_save_last(7, every=0)


# --- checkpoints ----------------------------------------------------------------------------


def rank_state() -> Dict:
    """One rank's record as the trainer saves it, for a backend that cannot save its physics."""
    generator = torch.Generator().manual_seed(5)
    return {"rng": capture_rng_state(), "agent_generator": generator.get_state(),
            "env_generator": generator.get_state(), "env": None, "rollout": None}  # fmt: skip


def make_real_checkpoint(actor, critic, actor_opt, critic_opt, epoch: int) -> Dict:
    config = apply_overrides(ExperimentConfig(), ["agent.actor_units=[8]", "num_envs=4"])
    return make_checkpoint(
        epoch=epoch,
        env_steps=epoch * 4 * 32,
        models={
            "actor": actor.state_dict(),
            "critic": critic.state_dict(),
            "actor_optimizer": actor_opt.state_dict(),
            "critic_optimizer": critic_opt.state_dict(),
        },
        config=config,
        rank_states=[rank_state()],
        motion_weights=torch.tensor([0.5, 0.25, 0.25]),
        counters={"best_evaluated_score": 0.75, "eval_count": 2},
        lineage={"experiment_sha256": "ab" * 32, "overrides": ["num_envs=4"]},
        extra={"adv_mean_ema": 0.125},
    )


def test_checkpoint_round_trip_resumes_training_exactly(tmp_path: Path) -> None:
    obs = torch.randn(16, 5, generator=torch.Generator().manual_seed(0))
    actor, critic = small_models()
    actor_opt, critic_opt = torch.optim.Adam(actor.parameters(), 1e-2), torch.optim.Adam(critic.parameters(), 1e-2)
    for _ in range(3):
        adam_step(actor, actor_opt, obs)
        adam_step(critic, critic_opt, obs)
    path = tmp_path / "run" / "last.ckpt"
    save_checkpoint(path, make_real_checkpoint(actor, critic, actor_opt, critic_opt, epoch=30))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temp file left behind

    payload = load_checkpoint(path)
    assert (payload["epoch"], payload["env_steps"]) == (30, 3840)
    assert payload["counters"] == {"best_evaluated_score": 0.75, "eval_count": 2}
    assert torch.equal(payload["motion_weights"], torch.tensor([0.5, 0.25, 0.25]))
    config = checkpoint_config(payload, ExperimentConfig)
    assert config.agent.actor_units == [8] and config.num_envs == 4
    assert payload["config_hash"] == config_hash(config)

    # A fresh model + optimiser loaded from the checkpoint takes the same next step as the original.
    torch.manual_seed(99)
    actor2 = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    actor2_opt = torch.optim.Adam(actor2.parameters(), 1e-3)
    actor2.load_state_dict(payload["model"]["actor"])
    actor2_opt.load_state_dict(payload["model"]["actor_optimizer"])
    assert actor2_opt.param_groups[0]["lr"] == 1e-2
    adam_step(actor, actor_opt, obs)
    adam_step(actor2, actor2_opt, obs)
    for p1, p2 in zip(actor.parameters(), actor2.parameters()):
        assert torch.equal(p1, p2)


def test_non_plain_payload_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    actor, critic = small_models()
    opts = torch.optim.Adam(actor.parameters()), torch.optim.Adam(critic.parameters())
    save_checkpoint(path, make_real_checkpoint(actor, critic, *opts, epoch=10))
    before = path.read_bytes()
    bad = make_real_checkpoint(actor, critic, *opts, epoch=20)
    bad["extra"]["weights"] = np.ones(3)
    with pytest.raises(TypeError, match=r"checkpoint\['extra'\]\['weights'\]: numpy\.ndarray"):
        save_checkpoint(path, bad)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    with pytest.raises(TypeError, match=r"lineage\['file'\]: pathlib"):
        make_lineage(file=Path("x"))
    with pytest.raises(TypeError, match="counter 'eval_count' must be an int or float, found str"):
        make_checkpoint(epoch=0, env_steps=0, models={}, config=ExperimentConfig(),
                        rank_states=[], counters={"eval_count": "2"})  # fmt: skip


def test_check_plain_data_accepts_what_weights_only_loads(tmp_path: Path) -> None:
    data = {"a": [1, 2.5, True, None, "s", (3, 4)], 7: torch.zeros(2), "o": torch.nn.Linear(2, 2).state_dict()}
    check_plain_data(data)
    torch.save(data, tmp_path / "x.pt")
    loaded = torch.load(tmp_path / "x.pt", weights_only=True)
    assert loaded["a"] == [1, 2.5, True, None, "s", (3, 4)]


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="expected an existing checkpoint file, found no such file"):
        load_checkpoint(tmp_path / "missing.ckpt")
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"format_version": 1, "weights": np.ones(3)}, unsafe)  # needs full unpickling
    with pytest.raises(
        CheckpointError, match="weights_only=True, found WeightsUnpickler error: Unsupported global.*numpy"
    ):
        load_checkpoint(unsafe)
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"format_version": 1, "w": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"truncated\.ckpt: field 'checkpoint'.*failed reading zip archive"):
        load_checkpoint(truncated)
    old = tmp_path / "old.ckpt"
    torch.save({"model": {}}, old)
    with pytest.raises(CheckpointError, match="field 'format_version': expected 1 or 2, found None"):
        load_checkpoint(old)


# --- RNG ------------------------------------------------------------------------------------


def draws() -> List[float]:
    """Draws from every captured generator, including the cached second Gaussians."""
    values = torch.rand(3).tolist() + torch.randn(3).tolist()
    values += np.random.rand(3).tolist() + [float(np.random.standard_normal())]
    values += [random.random(), random.gauss(0.0, 1.0), float(random.randint(0, 10**9))]
    return values


@pytest.mark.parametrize("through_checkpoint", [False, True])
def test_rng_restore_reproduces_draws(tmp_path: Path, through_checkpoint: bool) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leave a cached Gaussian in numpy's legacy state
    random.gauss(0.0, 1.0)  # and in Python's
    state = capture_rng_state()
    assert state["numpy"]["has_gauss"] == 1 and state["python"]["gauss_next"] is not None
    expected = draws()
    if through_checkpoint:
        save_checkpoint(tmp_path / "rng.ckpt", {"format_version": 2, "rank_states": [{"rng": state}]})
        state = load_checkpoint(tmp_path / "rng.ckpt")["rank_states"][0]["rng"]
    draws()  # move every generator on
    torch.manual_seed(11)
    np.random.seed(12)
    random.seed(13)
    restore_rng_state(state)
    assert draws() == expected
    assert draws() != expected  # the generators really advance


# --- metrics.csv ----------------------------------------------------------------------------


def read_csv(path: Path) -> Tuple[List[str], List[List[str]]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_metrics_csv_new_keys_widen_the_single_header(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    metrics = MetricsCSV(path)
    metrics.append({"epoch": 1, "Train/episode_reward": 0.1, "Train/fps": 1000})
    metrics.append({"epoch": 2, "Train/episode_reward": torch.tensor(0.2), "Train/fps": np.int64(1100)})
    metrics.append({"epoch": 3, "Train/fps": 1200, "Eval/success_rate": 0.5, "Train/episode_reward": 1 / 3})
    header, rows = read_csv(path)
    assert header == ["epoch", "Train/episode_reward", "Train/fps", "Eval/success_rate"]
    assert rows[0] == ["1", "0.1", "1000", ""]
    assert rows[2][3] == "0.5"
    assert float(rows[1][1]) == torch.tensor(0.2).item()  # float32 scalar → its exact double
    assert float(rows[2][1]) == 1 / 3  # repr round-trips
    metrics.append({"epoch": 4, "Train/episode_reward": float("nan"), "Train/fps": float("inf")})
    _, rows = read_csv(path)
    assert rows[3] == ["4", "nan", "inf", ""]
    assert math.isnan(float(rows[3][1])) and float(rows[3][2]) == math.inf
    assert path.read_text().count("epoch") == 1
    with pytest.raises(ValueError, match="not a scalar"):
        metrics.append({"epoch": 5, "x": torch.zeros(2)})
    with pytest.raises(ValueError, match="has no 'epoch' column"):
        metrics.append({"x": 1})


def test_metrics_csv_survives_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    first = MetricsCSV(path)
    for epoch in range(1, 16):  # checkpoint at 10, crash after 15
        first.append({"epoch": epoch, "loss": epoch * 0.5})
    resumed = MetricsCSV(path)
    assert resumed.columns == ["epoch", "loss"]
    assert resumed.truncate_after(10) == 5  # epochs 11-15 will be rerun
    for epoch in range(11, 13):
        resumed.append({"epoch": epoch, "loss": epoch * 0.5, "new/metric": 1.0})
    header, rows = read_csv(path)
    assert header == ["epoch", "loss", "new/metric"]
    assert [int(r[0]) for r in rows] == list(range(1, 13))
    assert [r[2] for r in rows] == [""] * 10 + ["1.0", "1.0"]


def test_metrics_csv_drops_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    metrics = MetricsCSV(path)
    metrics.append({"epoch": 1, "loss": 1.5})
    metrics.append({"epoch": 2, "loss": 2.5})
    path.write_text(path.read_text() + "3,3.")  # killed mid-append
    reopened = MetricsCSV(path)
    reopened.append({"epoch": 3, "loss": 3.5})
    assert path.read_text() == "epoch,loss\n1,1.5\n2,2.5\n3,3.5\n"


# --- resolved config and start mode ---------------------------------------------------------


def test_resolved_config_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(ExperimentConfig(), ["agent.num_mini_epochs=4", "env.terrain.kind=complex"])
    run = RunDir(tmp_path / "run")
    path = run.resolved_config
    write_resolved_config(path, config)
    text = path.read_text()
    assert text.startswith(f"# config_hash: {config_hash(config)}\n")
    assert "min_value: -.inf" in text  # YAML spelling of -inf, read back as a float
    assert read_resolved_config(run.resolved_config, ExperimentConfig) == config


def test_bad_resolved_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "resolved_config.yaml"
    write_resolved_config(path, ExperimentConfig())
    path.write_text(path.read_text().replace("num_mini_epochs: 1", "num_mini_epoch: 1"))
    with pytest.raises(ConfigError, match=r"resolved_config\.yaml: field 'agent\.num_mini_epoch'.*did you mean"):
        read_resolved_config(path, ExperimentConfig)
    path.write_text("agent: [unclosed\n")
    with pytest.raises(ConfigError, match="expected valid YAML"):
        read_resolved_config(path, ExperimentConfig)


def test_decide_start(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "results" / "exp")
    assert decide_start(run, None).kind is StartKind.FRESH
    other = tmp_path / "pretrained.ckpt"
    with pytest.raises(CheckpointError, match="--checkpoint"):
        decide_start(run, other)
    other.write_bytes(b"x")
    warm = decide_start(run, str(other))
    assert (warm.kind, warm.checkpoint) == (StartKind.WARM_START, other)
    run.root.mkdir(parents=True)
    run.last_checkpoint.write_bytes(b"x")
    resume = decide_start(run, None)
    assert (resume.kind, resume.checkpoint, resume.ignored_checkpoint_arg) == (
        StartKind.RESUME,
        run.last_checkpoint,
        None,
    )
    resume = decide_start(run, other)  # last.ckpt wins over --checkpoint, which is reported as ignored
    assert (resume.kind, resume.ignored_checkpoint_arg) == (StartKind.RESUME, other)
    assert decide_start(run, run.last_checkpoint).ignored_checkpoint_arg is None


def test_resume_keeps_the_saved_config_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    saved = apply_overrides(ExperimentConfig(), ["agent.num_mini_epochs=4"])
    requested = apply_overrides(
        ExperimentConfig(), ["env.reward_config.contact_match_rew.weight=0", "agent.max_epochs=50"]
    )
    with caplog.at_level("WARNING"):
        config, warnings = resume_config(saved, requested, keep_from_request=["agent.max_epochs"])
    assert config.agent.num_mini_epochs == 4
    assert config.env.reward_config.contact_match_rew.weight == -0.1
    assert config.agent.max_epochs == 50
    assert len(warnings) == 2 and all(line in caplog.text for line in warnings)
    # one "resume" per line: it used to read "mimic train: resume: resuming: ignoring ..."
    assert caplog.messages[0] == (
        "mimic train: resume: ignoring env.reward_config.contact_match_rew.weight=0.0, "
        "keeping the saved env.reward_config.contact_match_rew.weight=-0.1"
    )
    assert "ignoring env.reward_config.contact_match_rew.weight=0.0" in warnings[0]
    assert "ignoring agent.num_mini_epochs=1, keeping the saved agent.num_mini_epochs=4" in warnings[1]
    assert saved.agent.max_epochs == 0  # the saved config object is not modified
    assert resume_config(saved, saved)[1] == []


def test_lineage_records_the_experiment_hash(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.py"
    experiment.write_text("def build_config(): ...\n")
    run = RunDir(tmp_path / "run")
    start = decide_start(run, None)
    lineage = make_lineage(experiment_file=experiment, overrides=["num_envs=4"], start_mode=start, git_commit="abc123")
    assert lineage == {
        "overrides": ["num_envs=4"],
        "experiment_file": str(experiment),
        "experiment_sha256": hashlib.sha256(experiment.read_bytes()).hexdigest(),
        "start_mode": "fresh",
        "start_checkpoint": None,
        "git_commit": "abc123",
    }


def test_a_checkpoint_that_cannot_be_written_stops_with_the_previous_one_kept(tmp_path: Path) -> None:
    """Disk full while saving last.ckpt: one OutputWriteError naming it (training stops on it)."""
    actor, critic = small_models()
    opts = torch.optim.Adam(actor.parameters()), torch.optim.Adam(critic.parameters())
    path = tmp_path / "run" / "last.ckpt"
    save_checkpoint(path, make_real_checkpoint(actor, critic, *opts, epoch=10))
    before = path.read_bytes()
    with raw_opener(LimitedDisk(len(before) // 2)), pytest.raises(OutputWriteError) as caught:
        save_checkpoint(path, make_real_checkpoint(actor, critic, *opts, epoch=20))
    assert caught.value.errno == errno.ENOSPC and caught.value.path == str(path)
    assert str(caught.value).startswith(f"cannot write {path}: No space left on device (errno 28 ENOSPC)")
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"] and path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 10  # resumable from the previous checkpoint
    with raw_opener(denied), pytest.raises(OutputWriteError, match="EACCES"):
        save_checkpoint(tmp_path / "run" / "epoch_1000.ckpt", make_real_checkpoint(actor, critic, *opts, epoch=20))


def test_a_real_full_disk_for_checkpoints_and_metrics(tmp_path: Path) -> None:
    actor, critic = small_models()
    opts = torch.optim.Adam(actor.parameters()), torch.optim.Adam(critic.parameters())
    payload = make_real_checkpoint(actor, critic, *opts, epoch=10)
    payload["extra"]["returns"] = torch.zeros(50_000)  # 200 kB: more than the disk holds
    with small_filesystem(tmp_path / "disk", "64k") as disk:
        with pytest.raises(OutputWriteError) as caught:
            save_checkpoint(disk.path / "last.ckpt", payload)
        assert caught.value.errno == errno.ENOSPC and list(disk.path.iterdir()) == []
        (disk.path / "filler").write_bytes(b"\0" * (64 - 8) * 1024)  # leaves two pages
        metrics = MetricsCSV(disk.path / "metrics.csv")
        with pytest.raises(OutputWriteError) as caught:
            for epoch in range(1, 10_000):
                metrics.append({"epoch": epoch, "loss": 1.0 / epoch, "reward": math.pi * epoch})
        assert caught.value.errno == errno.ENOSPC and caught.value.path == str(disk.path / "metrics.csv")


def test_hostile_checkpoints_are_named_not_crashed_on(tmp_path: Path) -> None:
    fifo = tmp_path / "last.ckpt"
    os.mkfifo(fifo)  # torch.load would wait for a writer forever
    with pytest.raises(CheckpointError) as caught:
        returns_within(10.0, lambda: load_checkpoint(fifo), fifo)
    assert caught.value.found == "a FIFO (named pipe), not a regular file"
    actor, critic = small_models()
    opts = torch.optim.Adam(actor.parameters()), torch.optim.Adam(critic.parameters())
    good = make_real_checkpoint(actor, critic, *opts, epoch=10)
    nan_weights = dict(good, model={"agent": {"actor": {"0.weight": torch.full((8, 5), math.nan)}}})
    cases = [
        (nan_weights, "model.agent.actor.0.weight", "NaN or inf in (8, 5) torch.float32"),
        (dict(good, model={"actor": {"mu": {"bias": torch.tensor([math.inf])}}}), "model.actor.mu.bias", "NaN or inf"),
        (dict(good, epoch="ten"), "epoch", "str"),
        (dict(good, epoch=-3), "epoch", "-3"),
        (dict(good, rank_states={"not": "a list"}), "rank_states", "dict"),
        (dict(good, motion_weights=torch.tensor([1.0, math.nan])), "motion_weights", "torch.float32"),
    ]
    assert_each_is_named(cases, tmp_path, "hostile")
