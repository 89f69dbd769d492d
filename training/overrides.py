"""Typed ``key.path=value`` overrides, and config ↔ plain-dict conversion and hashing.

``apply_overrides(config, ["agent.num_mini_epochs=4", "env.reward_config.contact_match_rew.weight=0.0"])``
sets any leaf field of a (nested) dataclass config by its dotted path, checking the value
against the field's annotation. Supported leaf types: ``int``, ``float`` (ints accepted),
``bool`` (true/false/1/0/yes/no), ``str``, ``List[X]`` of those (``[256,256]``, YAML/JSON
syntax) and ``Optional[X]`` (``null``/``none``). A nested dataclass is a section: only its
fields can be set.

``config_to_dict`` / ``config_from_dict`` are the round trip used for ``resolved_config.yaml``
and checkpoints (plain builtins only, so ``torch.load(weights_only=True)`` can read them);
``config_hash`` is the sha256 of a canonical JSON form of the same dict.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import typing
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

_TRUE_WORDS = ("true", "1", "yes")
_FALSE_WORDS = ("false", "0", "no")
_NONE_WORDS = ("null", "none", "~")


class OverrideError(ValueError):
    """A bad override or config dict entry.

    ``key`` is the dotted path (or the raw item for a malformed override); ``expected`` and
    ``found`` are set for type errors so callers can re-raise with a file name.
    """

    def __init__(
        self, message: str, key: Optional[str] = None, expected: Optional[str] = None, found: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.key = key
        self.expected = expected
        self.found = found


# --- annotations --------------------------------------------------------------------------


def _field_types(cls: type) -> Dict[str, Any]:
    """Field name → resolved annotation (``from __future__ import annotations`` makes them strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _optional_inner(tp: Any) -> Optional[Any]:
    """``X`` for ``Optional[X]``, else None."""
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


def type_name(tp: Any) -> str:
    """A readable name for an annotation: ``int``, ``List[float]``, ``Optional[str]``."""
    inner = _optional_inner(tp)
    if inner is not None:
        return f"Optional[{type_name(inner)}]"
    if typing.get_origin(tp) in (list, List):
        (item,) = typing.get_args(tp) or (Any,)
        return f"List[{type_name(item)}]"
    return getattr(tp, "__name__", str(tp))


def leaf_paths(cls: type, prefix: str = "") -> List[str]:
    """Every settable dotted path of a dataclass type, in field order."""
    paths: List[str] = []
    for name, tp in _field_types(cls).items():
        path = f"{prefix}{name}"
        if _is_dataclass_type(tp):
            paths.extend(leaf_paths(tp, path + "."))
        else:
            paths.append(path)
    return paths


# --- values -------------------------------------------------------------------------------


def _bad_value(key: str, tp: Any, found: Any) -> OverrideError:
    expected = type_name(tp)
    shown = repr(found)
    return OverrideError(f"bad value for '{key}': expected {expected}, found {shown}", key, expected, shown)


def _parse_text(text: str, tp: Any, key: str) -> Any:
    """Parse command-line text into a value of annotation ``tp`` (checked)."""
    stripped = text.strip()
    inner = _optional_inner(tp)
    if inner is not None:
        return None if stripped.lower() in _NONE_WORDS else _parse_text(text, inner, key)
    if tp is bool:
        word = stripped.lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise _bad_value(key, tp, text)
    if tp is int:
        try:
            return int(stripped)
        except ValueError:
            pass
        # Accept integral scientific notation (training_max_steps=1e13), never a fraction.
        try:
            number = float(stripped)
        except ValueError:
            raise _bad_value(key, tp, text) from None
        if math.isfinite(number) and number.is_integer():
            return int(number)
        raise _bad_value(key, tp, text)
    if tp is float:
        try:
            return float(stripped)
        except ValueError:
            raise _bad_value(key, tp, text) from None
    if tp is str:
        if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
            return stripped[1:-1]
        return text
    if typing.get_origin(tp) in (list, List):
        # JSON first: YAML 1.1 reads 1e-5 (no dot) as a string; YAML then allows [a, b] strings.
        try:
            parsed = json.loads(stripped)
        except ValueError:
            try:
                parsed = yaml.safe_load(stripped)
            except yaml.YAMLError:
                raise _bad_value(key, tp, text) from None
        return check_value(parsed, tp, key)
    raise OverrideError(f"'{key}' has type {type_name(tp)}, which overrides do not support", key)


def check_value(value: Any, tp: Any, key: str, parse_strings: bool = False) -> Any:
    """Check a Python value against annotation ``tp``; return it normalised (ints → float fields).

    With ``parse_strings`` a ``str`` given for an int/float/bool field is parsed as override
    text would be: YAML 1.1 reads a hand-written ``1e-5`` as a string.
    """
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else check_value(value, inner, key, parse_strings)
    if parse_strings and isinstance(value, str) and tp in (int, float, bool):
        return _parse_text(value, tp, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _bad_value(key, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _bad_value(key, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _bad_value(key, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _bad_value(key, tp, value)
    if typing.get_origin(tp) in (list, List):
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise _bad_value(key, tp, value)
        try:
            return [item if item_tp is Any else check_value(item, item_tp, key) for item in value]
        except OverrideError:
            raise _bad_value(key, tp, value) from None
    raise OverrideError(f"'{key}' has type {type_name(tp)}, which configs do not support", key)


# --- overrides ----------------------------------------------------------------------------


def _unknown_key(config_cls: type, key: str) -> OverrideError:
    paths = leaf_paths(config_cls)
    close = difflib.get_close_matches(key, paths, n=5, cutoff=0.6)
    if close:
        return OverrideError(f"unknown key '{key}'; did you mean: {', '.join(close)}?", key)
    # No spelling neighbour: list what is valid under the longest valid prefix instead.
    parts = key.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:depth]) + "."
        under = [p for p in paths if p.startswith(prefix)]
        if under:
            return OverrideError(f"unknown key '{key}'; valid keys under '{prefix[:-1]}': {', '.join(under)}", key)
    sections = sorted({p.split(".")[0] for p in paths})
    return OverrideError(f"unknown key '{key}'; valid top-level keys: {', '.join(sections)}", key)


def _resolve(config: Any, key: str) -> Tuple[Any, str, Any]:
    """(the dataclass instance holding the field, field name, field annotation) for a dotted key."""
    node = config
    parts = key.split(".")
    for depth, name in enumerate(parts):
        types = _field_types(type(node))
        if name not in types:
            raise _unknown_key(type(config), key)
        tp = types[name]
        if depth == len(parts) - 1:
            if _is_dataclass_type(tp):
                example = leaf_paths(tp, key + ".")[0]
                raise OverrideError(
                    f"'{key}' is a section ({tp.__name__}), not a value: set its fields, e.g. {example}=...", key
                )
            return node, name, tp
        if not _is_dataclass_type(tp):
            raise _unknown_key(type(config), key)
        node = getattr(node, name)
    raise _unknown_key(type(config), key)  # empty key


def split_override(item: str) -> Tuple[str, str]:
    """``"a.b=c"`` → ``("a.b", "c")``; a missing ``=`` or empty key is an :class:`OverrideError`."""
    if "=" not in item:
        raise OverrideError(f"malformed override '{item}': expected key.path=value", item)
    key, value = item.split("=", 1)
    key = key.strip()
    if not key:
        raise OverrideError(f"malformed override '{item}': empty key before '='", item)
    return key, value


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """A copy of ``config`` with each ``key.path=value`` applied in order (later items win).

    Raises :class:`OverrideError` for a malformed item, an unknown key (listing the closest
    valid keys), a section key, or a value of the wrong type. ``config`` is not modified.
    """
    result = copy.deepcopy(config)
    for item in overrides:
        key, text = split_override(item)
        holder, name, tp = _resolve(result, key)
        setattr(holder, name, _parse_text(text, tp, key))
    return result


def set_value(config: Any, key: str, value: Any) -> None:
    """Set the leaf ``key`` of ``config`` in place to a Python value, type-checked."""
    holder, name, tp = _resolve(config, key)
    setattr(holder, name, check_value(copy.deepcopy(value), tp, key))


def check_config(config: Any) -> None:
    """Check every field of a config built by code (an experiment file) as overrides check theirs.

    Normalises in place (an int given for a float field becomes a float). Raises
    :class:`OverrideError` with ``key``/``expected``/``found`` for a value of the wrong type, a
    section holding something other than its dataclass, or an attribute set on a config object
    that is not one of its fields (``config.agent.num_mini_epoch = 4``: a dataclass accepts it
    silently and training would never read it), listing the closest valid keys.
    """
    _check_node(config, "", type(config))


def _check_node(node: Any, prefix: str, root_cls: type) -> None:
    types = _field_types(type(node))
    for name in vars(node):
        if name not in types:
            raise _unknown_key(root_cls, f"{prefix}{name}")
    for name, tp in types.items():
        key = f"{prefix}{name}"
        value = getattr(node, name)
        if _is_dataclass_type(tp):
            if not isinstance(value, tp):
                expected, found = tp.__name__, f"a {type(value).__name__}"
                raise OverrideError(f"bad value for '{key}': expected {expected}, found {found}", key, expected, found)
            _check_node(value, key + ".", root_cls)
        else:
            setattr(node, name, check_value(value, tp, key))


def unknown_field_error(config_cls: type, class_name: Optional[str], field_name: str) -> Optional[OverrideError]:
    """The error for ``SomeConfig(field_name=...)`` with no such field, worded as for an override key.

    ``class_name`` (Python ≥ 3.10 names the class in the TypeError; None before) picks the
    sections holding that dataclass: a class used in one place gets its dotted path
    (``agent.num_mini_epoch``, suggestions as for overrides), one used in several (``RewardTerm``)
    gets ``RewardTerm.<name>``. None when no section of ``config_cls`` has that class (the
    keyword went to some other callable: not a config mistake).
    """
    prefixes = _section_prefixes(config_cls, class_name)
    if not prefixes:
        return None
    if len(prefixes) == 1:
        return _unknown_key(config_cls, prefixes[0] + field_name)
    if class_name is None:  # any section: suggest full paths whose last part is close
        paths = leaf_paths(config_cls)
        by_name: Dict[str, List[str]] = {}
        for path in paths:
            by_name.setdefault(path.rsplit(".", 1)[-1], []).append(path)
        close = difflib.get_close_matches(field_name, list(by_name), n=3, cutoff=0.6)
        shown = [path for name in close for path in by_name[name]][:5]
        key = field_name
    else:
        names = list(_field_types(_section_class(config_cls, prefixes[0])))
        shown = [f"{class_name}.{name}" for name in difflib.get_close_matches(field_name, names, n=5, cutoff=0.6)]
        key = f"{class_name}.{field_name}"
    if shown:
        return OverrideError(f"unknown key '{key}'; did you mean: {', '.join(shown)}?", key)
    return OverrideError(f"unknown key '{key}'", key)


def _section_prefixes(cls: type, class_name: Optional[str], prefix: str = "") -> List[str]:
    """Dotted prefixes ("" for the root, "agent.", ...) of every section whose class is named
    ``class_name`` (every section when it is None)."""
    found = [prefix] if class_name is None or cls.__name__ == class_name else []
    for name, tp in _field_types(cls).items():
        if _is_dataclass_type(tp):
            found.extend(_section_prefixes(tp, class_name, f"{prefix}{name}."))
    return found


def _section_class(cls: type, prefix: str) -> type:
    for name in prefix.split(".")[:-1]:
        cls = _field_types(cls)[name]
    return cls


# --- dict round trip, diff, hash ----------------------------------------------------------


def config_to_dict(config: Any, _prefix: str = "") -> Dict[str, Any]:
    """Nested plain dict (builtins only) of a dataclass config; float fields always hold floats.

    A field holding a value of the wrong type (set by code, bypassing overrides) is an
    :class:`OverrideError` here rather than a surprise in a saved file.
    """
    out: Dict[str, Any] = {}
    for name, tp in _field_types(type(config)).items():
        value = getattr(config, name)
        if dataclasses.is_dataclass(value):
            out[name] = config_to_dict(value, f"{_prefix}{name}.")
        else:
            out[name] = check_value(copy.deepcopy(value), tp, f"{_prefix}{name}")
    return out


def config_from_dict(cls: type, data: Dict[str, Any]) -> Any:
    """Build ``cls`` from a nested dict, type-checking every value.

    Keys absent from ``data`` keep their defaults (a field added after the dict was written);
    an unknown key is an :class:`OverrideError` listing the closest valid keys.
    """
    return _from_dict(cls, data, "", cls)


def _from_dict(cls: type, data: Any, prefix: str, root_cls: type) -> Any:
    if not isinstance(data, dict):
        where = prefix[:-1] or "<root>"
        found = type(data).__name__
        raise OverrideError(f"'{where}' must be a mapping, found {found}", where, "a mapping", found)
    types = _field_types(cls)
    kwargs: Dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name not in types:
            raise _unknown_key(root_cls, key)
        tp = types[name]
        if _is_dataclass_type(tp):
            kwargs[name] = _from_dict(tp, value, key + ".", root_cls)
        else:
            kwargs[name] = check_value(value, tp, key, parse_strings=True)
    return cls(**kwargs)


def flatten_config(config: Any) -> Dict[str, Any]:
    """Dotted path → leaf value."""
    flat: Dict[str, Any] = {}

    def walk(node: Dict[str, Any], prefix: str) -> None:
        for name, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{name}.")
            else:
                flat[f"{prefix}{name}"] = value

    walk(config_to_dict(config), "")
    return flat


def config_differences(old: Any, new: Any) -> List[Tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs, in field order."""
    old_flat, new_flat = flatten_config(old), flatten_config(new)
    return [(k, old_flat.get(k), new_flat.get(k)) for k in new_flat if old_flat.get(k) != new_flat.get(k)]


def config_hash(config: Any) -> str:
    """sha256 (hex) of the canonical JSON of :func:`config_to_dict` (sorted keys, no spaces)."""
    return config_dict_hash(config_to_dict(config))


def config_dict_hash(config: Any) -> str:
    """sha256 (hex) of a config already in plain-dict form (as checkpoints store it): the hash
    :func:`config_hash` gives the dataclass, so a stored dict re-hashes to its recorded hash."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
