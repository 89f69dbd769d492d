"""Range checks of the counts in an :class:`~training.config.ExperimentConfig`, before anything is built.

The type of every field is checked where it is set (:mod:`training.overrides`); its range is
checked here, once the experiment file, the command line's flags and ``--overrides`` are merged.
A count out of range used to surface deep inside: ``--num-envs 0`` as a ZeroDivisionError
traceback, ``--num-envs -3`` as torch's "negative dimensions are not allowed", ``--ngpu 0`` and
``--max-epochs -1`` not at all (a run of 1 rank and no epoch limit). Torch-free.
"""

from __future__ import annotations

from typing import Any, Tuple

from motion.errors import ConfigError

#: (dotted config key, smallest allowed value, what it counts): the counts that sizes, loops and
#: divisions use. A smallest value of 0 is allowed where 0 has a meaning (said in the text).
COUNT_LIMITS: Tuple[Tuple[str, int, str], ...] = (
    ("num_envs", 1, "environments per rank"),
    ("ngpu", 1, "ranks"),
    ("num_threads", 0, "threads (0: cores / ranks)"),
    ("agent.batch_size", 1, "samples per minibatch"),
    ("agent.num_steps", 1, "rollout steps per env and epoch"),
    ("agent.num_mini_epochs", 1, "passes over each rollout"),
    ("agent.max_epochs", 0, "epochs (0: no limit)"),
    ("agent.training_max_steps", 1, "env steps"),
    ("agent.eval_metrics_every", 0, "epochs between evaluations (0: none)"),
    ("agent.max_eval_steps", 0, "frames per evaluated motion (0: all)"),
    ("agent.save_predicted_motion_lib_every", 0, "evaluations (0: never)"),
    ("agent.logstd_decay_env_steps", 0, "env steps (0: no decay)"),
    ("env.max_episode_length", 1, "control steps"),
    ("env.decimation", 1, "physics steps per control step"),
    ("env.ref_contact_smooth_window", 1, "frames averaged"),
    ("env.reset_grace_period", 0, "control steps"),
    ("env.observations.future_steps", 1, "reference frames observed"),
    ("env.observations.terrain_obs_points", 1, "height samples per axis"),
)
# The terrain's sizes are checked where the terrain is built (training.terrain); a seed is any int.


def _get(config: Any, key: str) -> Any:
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _field_name(key: str) -> str:
    """``num_envs (--num-envs)`` for a key a command-line flag sets, else the key."""
    from training.command_flags import CONFIG_FLAGS

    option = next((flag.option for flag in CONFIG_FLAGS if flag.config_key == key), None)
    return key if option is None else f"{key} ({option})"


def check_config_counts(config: Any, source: str) -> None:
    """Raise :class:`motion.errors.ConfigError` (one line: ``source``, the field and its flag, the
    range, the value) for the first count of :data:`COUNT_LIMITS` below its smallest value, or a
    non-positive ``env.physics_hz``. ``source`` says where the config came from (the experiment
    file with the command line, a checkpoint, a run's resolved config)."""
    for key, smallest, counts in COUNT_LIMITS:
        value = _get(config, key)
        if value < smallest:
            expected = f"{'a positive' if smallest == 1 else 'a non-negative'} number of {counts}"
            raise ConfigError(source, _field_name(key), expected, repr(value))
    if not config.env.physics_hz > 0:
        raise ConfigError(source, "env.physics_hz", "a positive rate in Hz", repr(config.env.physics_hz))
