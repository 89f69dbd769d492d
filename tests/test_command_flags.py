"""The one table of config flags shared by `mimic train` and `mimic inference`."""

from __future__ import annotations

import pytest

from mimic.cli import build_parser
from training.command_flags import (
    CONFIG_FLAGS,
    INFERENCE_FLAGS,
    TRAIN_FLAGS,
    apply_flag_values,
    flag_arguments,
    flag_by_dest,
    given_flag_values,
)
from training.config import ExperimentConfig
from training.overrides import OverrideError, leaf_paths

BASE = {"train": ["train", "--experiment-path", "x.py", "--experiment-name", "x"], "inference": ["inference"]}


def test_every_flag_sets_a_real_config_field_of_its_type():
    fields = set(leaf_paths(ExperimentConfig))
    for flag in CONFIG_FLAGS:
        assert flag.config_key in fields, flag
        holder = ExperimentConfig()
        for part in flag.config_key.split("."):
            holder = getattr(holder, part)
        assert isinstance(holder, flag.type), (flag, holder)


@pytest.mark.parametrize("command, flags", [("train", TRAIN_FLAGS), ("inference", INFERENCE_FLAGS)])
def test_both_spellings_parse_to_the_flags_type(command, flags):
    parser = build_parser()
    for flag in flags:
        value = "7" if flag.type is int else "some/value.pt"
        for spelling in flag.spellings:
            args = parser.parse_args([*BASE[command], spelling, value])
            assert given_flag_values(args, flags) == {flag.dest: flag.type(value)}


def test_inference_shares_the_simulation_flags_but_not_the_training_ones():
    inference = {flag.dest for flag in INFERENCE_FLAGS}
    assert {"robot_name", "motion_file", "simulator", "device", "robot_xml", "num_envs", "num_threads"} == inference
    assert "max_epochs" not in inference and "batch_size" not in inference
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inference", "--max-epochs", "3"])


def test_values_are_set_as_typed_values_not_reparsed_text():
    # Override text parsing would strip the quotes (it reads 'x' as the string x): a flag keeps them.
    values = {"motion_file": "'quoted.pt'", "robot_xml": "null", "num_envs": 12, "max_epochs": 3}
    config = apply_flag_values(ExperimentConfig(), TRAIN_FLAGS, values)
    assert config.motion_file == "'quoted.pt'"
    assert config.robot_xml == "null"
    assert config.num_envs == 12 and config.agent.max_epochs == 3
    assert ExperimentConfig().num_envs != 12  # the input config is not modified


def test_a_value_of_the_wrong_type_names_the_field():
    with pytest.raises(OverrideError, match="'num_envs': expected int, found '12'"):
        apply_flag_values(ExperimentConfig(), TRAIN_FLAGS, {"num_envs": "12"})
    with pytest.raises(KeyError, match="max_epochs"):
        apply_flag_values(ExperimentConfig(), INFERENCE_FLAGS, {"max_epochs": 3})


def test_flag_arguments_give_the_same_values_back():
    values = {"num_envs": 64, "motion_file": "data/lib.pt", "batch_size": 512, "seed": 3}
    args = build_parser().parse_args([*BASE["train"], *flag_arguments(TRAIN_FLAGS, values)])
    assert given_flag_values(args, TRAIN_FLAGS) == values
    assert flag_by_dest("batch_size").config_key == "agent.batch_size"


def test_every_count_below_its_range_is_one_config_error_naming_its_flag():
    """--num-envs 0 was a ZeroDivisionError traceback, --num-envs -3 torch's "negative dimensions",
    --ngpu 0 and --max-epochs -1 ran as if valid. Each count is now refused by name."""
    from motion.errors import ConfigError
    from training.config_checks import COUNT_LIMITS, check_config_counts
    from training.overrides import set_value

    check_config_counts(ExperimentConfig(), "defaults")  # ProtoMotions' defaults pass
    defaults = ExperimentConfig()
    int_fields = {key for key in leaf_paths(ExperimentConfig) if type(_get(defaults, key)) is int}
    counted = {key for key, _smallest, _text in COUNT_LIMITS}
    assert counted <= int_fields
    # Every int field is a count of COUNT_LIMITS but the seeds (any int) and the terrain's sizes
    # (training.terrain checks them when it builds the terrain).
    assert int_fields - counted == {"seed", "env.terrain.seed", "env.terrain.num_levels", "env.terrain.num_terrains"}
    for key, smallest, _text in COUNT_LIMITS:
        config = ExperimentConfig()
        set_value(config, key, smallest - 1)
        with pytest.raises(ConfigError) as caught:
            check_config_counts(config, "mlp.py with the command line")
        error = caught.value
        assert error.path == "mlp.py with the command line" and error.field.split(" ")[0] == key
        assert error.found == repr(smallest - 1)
        assert error.expected.startswith("a positive" if smallest == 1 else "a non-negative"), error.expected
    assert flag_by_dest("num_envs").option in str(_error_for("num_envs", 0))
    assert str(_error_for("num_envs", 0)) == (
        "mlp.py: field 'num_envs (--num-envs)': expected a positive number of environments per rank, found 0"
    )
    assert "'agent.max_epochs (--max-epochs)': expected a non-negative number of epochs (0: no limit), found -1" in str(
        _error_for("agent.max_epochs", -1)
    )


def _get(config, key):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _error_for(key, value):
    from motion.errors import ConfigError
    from training.config_checks import check_config_counts
    from training.overrides import set_value

    config = ExperimentConfig()
    set_value(config, key, value)
    with pytest.raises(ConfigError) as caught:
        check_config_counts(config, "mlp.py")
    return caught.value
