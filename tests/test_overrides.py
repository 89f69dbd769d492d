"""Typed overrides, config ↔ dict round trip and hash, and experiment files loaded by path."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from motion.errors import ConfigError
from training.config import ExperimentConfig, RewardTerm
from training.experiment_loader import experiment_file_hash, load_experiment
from training.overrides import (
    OverrideError,
    apply_overrides,
    config_differences,
    config_from_dict,
    config_hash,
    config_to_dict,
    leaf_paths,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
MIMIC_EXPERIMENTS = REPO_ROOT / "training" / "experiments" / "mimic"


# --- overrides: each type -------------------------------------------------------------------


def test_the_two_overrides_from_the_issue() -> None:
    config = apply_overrides(
        ExperimentConfig(), ["agent.num_mini_epochs=4", "env.reward_config.contact_match_rew.weight=0.0"]
    )
    assert config.agent.num_mini_epochs == 4 and type(config.agent.num_mini_epochs) is int
    assert config.env.reward_config.contact_match_rew.weight == 0.0
    assert type(config.env.reward_config.contact_match_rew.weight) is float
    # Nothing else moved.
    assert [key for key, _, _ in config_differences(ExperimentConfig(), config)] == [
        "env.reward_config.contact_match_rew.weight",
        "agent.num_mini_epochs",
    ]


def test_overrides_return_a_copy_and_later_items_win() -> None:
    base = ExperimentConfig()
    config = apply_overrides(base, ["num_envs=64", "num_envs=128"])
    assert config.num_envs == 128
    assert base.num_envs == 4096


@pytest.mark.parametrize(
    "item, path, expected",
    [
        ("num_envs=8192", ("num_envs",), 8192),
        ("agent.training_max_steps=1e13", ("agent", "training_max_steps"), 10**13),  # integral sci notation
        ("agent.batch_size= 16384 ", ("agent", "batch_size"), 16384),
        ("agent.actor_lr=3e-4", ("agent", "actor_lr"), 3e-4),
        ("agent.gradient_clip_val=10", ("agent", "gradient_clip_val"), 10.0),  # int accepted for float
        ("env.reward_config.pow_rew.min_value=-inf", ("env", "reward_config", "pow_rew", "min_value"), float("-inf")),
        ("env.terrain.kind=complex", ("env", "terrain", "kind"), "complex"),
        ("env.terrain.kind='complex'", ("env", "terrain", "kind"), "complex"),  # shell-style quotes dropped
        ("motion_file=data/motionlib/a=b.pt", ("motion_file",), "data/motionlib/a=b.pt"),  # split at first '='
        ("motion_file=", ("motion_file",), ""),
        ("agent.actor_units=[256,256]", ("agent", "actor_units"), [256, 256]),
        ("agent.critic_units=[512, 512, 128]", ("agent", "critic_units"), [512, 512, 128]),
        ("env.terrain.proportions=[0.5, 0, 1e-5, 1]", ("env", "terrain", "proportions"), [0.5, 0.0, 1e-5, 1.0]),
        ("agent.actor_units=[]", ("agent", "actor_units"), []),
    ],
)
def test_values_are_parsed_to_the_annotated_type(item: str, path: tuple, expected: object) -> None:
    value = apply_overrides(ExperimentConfig(), [item])
    for name in path:
        value = getattr(value, name)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, list):
        assert [type(v) for v in value] == [type(v) for v in expected]


@pytest.mark.parametrize(
    "text, expected",
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("NO", False)],
)
def test_bool_words(text: str, expected: bool) -> None:
    config = apply_overrides(ExperimentConfig(), [f"agent.learnable_std={text}", f"env.enable_termination={text}"])
    assert config.agent.learnable_std is expected
    assert config.env.enable_termination is expected


# --- overrides: errors ----------------------------------------------------------------------


def test_unknown_key_lists_the_closest_full_paths() -> None:
    with pytest.raises(OverrideError) as caught:
        apply_overrides(ExperimentConfig(), ["agent.num_mini_epoch=4"])
    message = str(caught.value)
    assert message.startswith("unknown key 'agent.num_mini_epoch'; did you mean: agent.num_mini_epochs")
    assert caught.value.key == "agent.num_mini_epoch"


def test_unknown_nested_key_suggests_the_deep_path() -> None:
    with pytest.raises(OverrideError, match=r"did you mean: env\.reward_config\.contact_match_rew\.weight"):
        apply_overrides(ExperimentConfig(), ["env.reward_config.contact_match.weight=0"])


def test_unknown_key_without_neighbours_lists_the_section() -> None:
    with pytest.raises(OverrideError) as caught:
        apply_overrides(ExperimentConfig(), ["env.observations.zzzzzzzzzzzzzzzz=1"])
    message = str(caught.value)
    assert "valid keys under 'env.observations'" in message
    assert "env.observations.terrain_obs" in message and "env.observations.future_steps" in message


def test_a_section_cannot_be_set_as_a_whole() -> None:
    with pytest.raises(OverrideError, match=r"'env\.terrain' is a section \(TerrainConfig\).*env\.terrain\.kind="):
        apply_overrides(ExperimentConfig(), ["env.terrain=complex"])


def test_a_key_below_a_leaf_is_unknown() -> None:
    with pytest.raises(OverrideError, match=r"unknown key 'num_envs\.x'"):
        apply_overrides(ExperimentConfig(), ["num_envs.x=1"])


@pytest.mark.parametrize(
    "item, expected, found",
    [
        ("agent.num_mini_epochs=4.5", "int", "'4.5'"),
        ("agent.num_mini_epochs=four", "int", "'four'"),
        ("agent.num_mini_epochs=true", "int", "'true'"),
        ("agent.actor_lr=fast", "float", "'fast'"),
        ("agent.learnable_std=maybe", "bool", "'maybe'"),
        ("agent.actor_units=[1.5, 2]", "List[int]", "[1.5, 2]"),
        ("agent.actor_units=[256, true]", "List[int]", "[256, True]"),
        ("agent.actor_units=256", "List[int]", "256"),
        ("env.terrain.proportions=[a, b]", "List[float]", "['a', 'b']"),
        ("agent.actor_units=[256,", "List[int]", "'[256,'"),
    ],
)
def test_bad_value_names_key_expected_type_and_value(item: str, expected: str, found: str) -> None:
    key = item.split("=", 1)[0]
    with pytest.raises(OverrideError) as caught:
        apply_overrides(ExperimentConfig(), [item])
    assert str(caught.value) == f"bad value for '{key}': expected {expected}, found {found}"
    assert (caught.value.key, caught.value.expected, caught.value.found) == (key, expected, found)


@pytest.mark.parametrize("item, message", [("agent.num_mini_epochs", "expected key.path=value"), ("=4", "empty key")])
def test_malformed_item(item: str, message: str) -> None:
    with pytest.raises(OverrideError, match=f"malformed override '{item}'.*{message}"):
        apply_overrides(ExperimentConfig(), [item])


def test_override_error_is_a_value_error() -> None:
    assert issubclass(OverrideError, ValueError)


# --- dict round trip and hash ---------------------------------------------------------------


def test_dict_round_trip_of_an_overridden_config() -> None:
    config = apply_overrides(
        ExperimentConfig(),
        ["agent.actor_units=[64,32]", "env.terrain.kind=complex", "env.reward_config.gt_rew.weight=2"],
    )
    data = config_to_dict(config)
    assert data["agent"]["actor_units"] == [64, 32]
    assert data["env"]["reward_config"]["pow_rew"]["min_value"] == -0.5
    assert data["env"]["reward_config"]["gt_rew"]["min_value"] == float("-inf")
    rebuilt = config_from_dict(ExperimentConfig, data)
    assert rebuilt == config
    assert config_to_dict(rebuilt) == data
    data["agent"]["actor_units"].append(7)  # the dict is a copy, not a view
    assert config.agent.actor_units == [64, 32]


def test_dict_from_older_run_keeps_defaults_for_missing_keys() -> None:
    data = config_to_dict(ExperimentConfig(num_envs=32))
    del data["env"]["observations"]["terrain_obs_points"]
    del data["ngpu"]
    rebuilt = config_from_dict(ExperimentConfig, data)
    assert rebuilt.num_envs == 32
    assert rebuilt.env.observations.terrain_obs_points == 16 and rebuilt.ngpu == 1


def test_dict_with_unknown_or_mistyped_entries_is_rejected() -> None:
    data = config_to_dict(ExperimentConfig())
    data["agent"]["num_mini_epoch"] = 2
    with pytest.raises(
        OverrideError, match=r"unknown key 'agent\.num_mini_epoch'; did you mean: agent\.num_mini_epochs"
    ):
        config_from_dict(ExperimentConfig, data)
    data = config_to_dict(ExperimentConfig())
    data["env"]["terrain"] = "complex"
    with pytest.raises(OverrideError, match=r"'env\.terrain' must be a mapping, found str"):
        config_from_dict(ExperimentConfig, data)
    data = config_to_dict(ExperimentConfig())
    data["agent"]["num_steps"] = 3.5
    with pytest.raises(OverrideError, match=r"bad value for 'agent\.num_steps': expected int, found 3\.5"):
        config_from_dict(ExperimentConfig, data)


def test_dict_float_written_as_yaml11_string_is_parsed() -> None:
    # YAML 1.1 (PyYAML) reads a hand-written 1e-5 as the string '1e-5'.
    data = config_to_dict(ExperimentConfig())
    data["agent"]["actor_lr"] = "1e-5"
    assert config_from_dict(ExperimentConfig, data).agent.actor_lr == 1e-5


def test_float_fields_are_floats_in_the_dict_whatever_was_assigned() -> None:
    config = ExperimentConfig()
    config.env.reward_config.gt_rew = RewardTerm(weight=1, coefficient=-25)  # ints set by code
    data = config_to_dict(config)
    assert type(data["env"]["reward_config"]["gt_rew"]["weight"]) is float
    config.env.reward_config.gt_rew = RewardTerm(weight=1.0, coefficient=-25.0)
    assert config_to_dict(config) == data


def test_a_mistyped_field_set_by_code_fails_when_converted() -> None:
    config = ExperimentConfig()
    config.num_envs = "64"  # type: ignore[assignment]
    with pytest.raises(OverrideError, match=r"bad value for 'num_envs': expected int, found '64'"):
        config_to_dict(config)


def test_hash_depends_on_values_only() -> None:
    first, second = ExperimentConfig(), ExperimentConfig()
    assert config_hash(first) == config_hash(second)
    assert len(config_hash(first)) == 64 and int(config_hash(first), 16) >= 0
    changed = apply_overrides(first, ["env.reward_config.contact_match_rew.weight=0.0"])
    assert config_hash(changed) != config_hash(first)
    restored = apply_overrides(changed, ["env.reward_config.contact_match_rew.weight=-0.1"])
    assert config_hash(restored) == config_hash(first)
    # Setting a value to what it already is changes nothing.
    assert config_hash(apply_overrides(first, ["agent.gradient_clip_val=50"])) == config_hash(first)
    assert config_hash(apply_overrides(first, ["agent.actor_units=[1024,1024,1024,1024,1024,1024]"])) == config_hash(
        first
    )
    assert config_hash(apply_overrides(first, ["agent.actor_units=[1024,1024]"])) != config_hash(first)


def test_every_leaf_path_is_settable() -> None:
    paths = leaf_paths(ExperimentConfig)
    assert "env.reward_config.contact_match_rew.weight" in paths and "agent.num_mini_epochs" in paths
    assert len(paths) == len(set(paths))
    flat_values = {}
    for path in paths:
        node = ExperimentConfig()
        for name in path.split("."):
            node = getattr(node, name)
        flat_values[path] = node
    # Re-setting every leaf to its own value through override text is the identity.
    items = []
    for path, value in flat_values.items():
        text = (
            str(value).lower() if isinstance(value, bool) else repr(value) if isinstance(value, float) else str(value)
        )
        items.append(f"{path}={text}")
    assert apply_overrides(ExperimentConfig(), items) == ExperimentConfig()


# --- experiment files -----------------------------------------------------------------------


def test_flat_experiment_holds_the_protomotions_smpl_values() -> None:
    config = load_experiment(MIMIC_EXPERIMENTS / "mlp.py")
    assert isinstance(config, ExperimentConfig)
    assert config.agent.actor_units == [1024] * 6 and config.agent.critic_units == [1024] * 4
    assert (config.agent.actor_lr, config.agent.critic_lr, config.agent.actor_logstd) == (2e-5, 1e-4, -2.9)
    assert (config.agent.num_steps, config.agent.num_mini_epochs, config.agent.gradient_clip_val) == (32, 1, 50.0)
    rewards = config.env.reward_config
    assert (rewards.gt_rew.weight, rewards.gt_rew.coefficient) == (0.5, -25.0)
    assert (rewards.gav_rew.weight, rewards.gav_rew.coefficient) == (0.2, -0.1)
    assert (rewards.pow_rew.weight, rewards.pow_rew.min_value) == (-1e-5, -0.5)
    tracking = [rewards.gt_rew, rewards.gr_rew, rewards.gv_rew, rewards.gav_rew, rewards.rh_rew]
    assert sum(term.weight for term in tracking) == pytest.approx(1.3)
    assert config.env.terrain.kind == "flat" and config.env.observations.terrain_obs is False
    assert config.env.physics_hz / config.env.decimation == 30.0


def test_complex_terrain_experiment_differs_in_exactly_two_fields() -> None:
    flat = load_experiment(MIMIC_EXPERIMENTS / "mlp.py")
    complex_ = load_experiment(MIMIC_EXPERIMENTS / "mlp_complex_terrain.py")
    assert config_differences(flat, complex_) == [
        ("env.terrain.kind", "flat", "complex"),
        ("env.observations.terrain_obs", False, True),
    ]


def test_experiment_copied_outside_the_package_loads_and_is_really_read(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "my-mlp.py"
    copy.parent.mkdir()
    shutil.copy(MIMIC_EXPERIMENTS / "mlp.py", copy)
    assert load_experiment(copy) == load_experiment(MIMIC_EXPERIMENTS / "mlp.py")
    # Edit the copy: the loader must execute this file, not a cached package module.
    text = copy.read_text()
    assert text.count("num_mini_epochs=1,") == 1
    copy.write_text(text.replace("num_mini_epochs=1,", "num_mini_epochs=3,"))
    assert load_experiment(copy).agent.num_mini_epochs == 3
    assert load_experiment(MIMIC_EXPERIMENTS / "mlp.py").agent.num_mini_epochs == 1


def test_same_file_name_in_two_directories_do_not_collide(tmp_path: Path) -> None:
    for name, envs in (("a", 11), ("b", 22)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "exp.py").write_text(
            "from training.config import ExperimentConfig\n\n"
            f"def build_config():\n    return ExperimentConfig(num_envs={envs})\n"
        )
    assert load_experiment(tmp_path / "a" / "exp.py").num_envs == 11
    assert load_experiment(tmp_path / "b" / "exp.py").num_envs == 22


def test_experiment_defining_its_own_dataclass_loads(tmp_path: Path) -> None:
    # Postponed annotations make dataclasses look their module up in sys.modules.
    path = tmp_path / "with_dataclass.py"
    path.write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n"
        "from typing import ClassVar\n"
        "from training.config import ExperimentConfig\n\n"
        "@dataclass\nclass Sweep:\n    size: ClassVar[int] = 3\n    envs: int = 48\n\n"
        "def build_config() -> ExperimentConfig:\n    return ExperimentConfig(num_envs=Sweep().envs * Sweep.size)\n"
    )
    assert load_experiment(path).num_envs == 144


def test_missing_experiment_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.py: field 'experiment file': expected an existing Python file"):
        load_experiment(tmp_path / "nope.py")
    with pytest.raises(ConfigError, match="found a directory"):
        load_experiment(tmp_path)


def test_experiment_without_build_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("CONFIG = None\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert (caught.value.path, caught.value.field, caught.value.found) == (str(path), "build_config", "not defined")


def test_experiment_returning_the_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "wrong.py"
    path.write_text("def build_config():\n    return {'num_envs': 4}\n")
    with pytest.raises(ConfigError, match=r"field 'build_config\(\)': expected an ExperimentConfig, found a dict"):
        load_experiment(path)


def test_errors_inside_the_experiment_propagate_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def build_config():\n    raise KeyError('my own bug')\n")
    with pytest.raises(KeyError, match="my own bug"):
        load_experiment(path)


def test_experiment_file_hash_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "exp.py"
    shutil.copy(MIMIC_EXPERIMENTS / "mlp.py", path)
    assert experiment_file_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    before = experiment_file_hash(path)
    path.write_text(path.read_text() + "\n# a comment changes the file\n")
    assert experiment_file_hash(path) != before


# --- experiment files get the checks overrides get -------------------------------------------


def _experiment(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "exp.py"
    path.write_text(
        "from training.config import EnvConfig, ExperimentConfig, RewardConfig, RewardTerm\n"
        "from training.ppo.config import PPOConfig\n\n"
        f"def build_config():\n{body}"
    )
    return path


def test_experiment_with_a_misspelt_field_names_it_and_the_closest_ones(tmp_path: Path) -> None:
    path = _experiment(tmp_path, "    return ExperimentConfig(agent=PPOConfig(num_mini_epoch=4))\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    error = caught.value
    assert (error.path, error.field) == (str(path), "agent.num_mini_epoch")
    assert "did you mean: agent.num_mini_epochs" in error.expected and error.found == "no such field (line 5)"
    assert "\n" not in str(error)


def test_experiment_with_a_misspelt_field_of_a_shared_class(tmp_path: Path) -> None:
    body = "    return ExperimentConfig(env=EnvConfig(reward_config=RewardConfig(gt_rew=RewardTerm(weigth=0.5))))\n"
    with pytest.raises(ConfigError, match=r"field 'RewardTerm\.weigth': .*did you mean: RewardTerm\.weight\?"):
        load_experiment(_experiment(tmp_path, body))


def test_experiment_setting_an_attribute_that_is_no_field(tmp_path: Path) -> None:
    body = "    config = ExperimentConfig()\n    config.agent.num_mini_epoch = 4\n    return config\n"
    with pytest.raises(ConfigError, match=r"field 'agent\.num_mini_epoch': .*did you mean: agent\.num_mini_epochs"):
        load_experiment(_experiment(tmp_path, body))


@pytest.mark.parametrize(
    "body, field, expected, found",
    [
        ("ExperimentConfig(agent=PPOConfig(actor_lr='2e-5'))", "agent.actor_lr", "float", "'2e-5'"),
        ("ExperimentConfig(num_envs=8.5)", "num_envs", "int", "8.5"),
        ("ExperimentConfig(agent=PPOConfig(actor_units=256))", "agent.actor_units", "List[int]", "256"),
        ("ExperimentConfig(env={'physics_hz': 60.0})", "env", "EnvConfig", "a dict"),
    ],
)
def test_experiment_with_a_value_of_the_wrong_type(tmp_path: Path, body: str, field: str, expected: str, found: str):
    path = _experiment(tmp_path, f"    return {body}\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert (caught.value.path, caught.value.field, caught.value.expected, caught.value.found) == (
        str(path), field, expected, found
    )  # fmt: skip


def test_experiment_ints_for_float_fields_become_floats(tmp_path: Path) -> None:
    config = load_experiment(_experiment(tmp_path, "    return ExperimentConfig(agent=PPOConfig(actor_lr=1))\n"))
    assert config.agent.actor_lr == 1.0 and isinstance(config.agent.actor_lr, float)


def test_a_keyword_mistake_in_the_files_own_class_keeps_its_traceback(tmp_path: Path) -> None:
    body = "    class Own:\n        def __init__(self):\n            pass\n    Own(x=1)\n"
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        load_experiment(_experiment(tmp_path, body))
