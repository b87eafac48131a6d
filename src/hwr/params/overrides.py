"""Overrides files (``configs/study.yaml``): the keys of params.yaml a set-up changes, turned into the
``-S key=value`` options of ``dvc exp run`` after checking every key and the params they make. A run
set to ``null`` under a ``runs`` mapping is removed (``-S ~train.runs.NAME``)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from hwr.core.errors import HwrError
from hwr.params.loading import _read_yaml, from_dict
from hwr.params.schema import FinetuneRun, Params, SelftrainRun, TrainRun

# the mappings of runs, which take any name: a run's keys are checked against its kind's
_RUNS = {"train.runs": TrainRun("gru", "full"), "finetune.runs": FinetuneRun(), "selftrain.runs": SelftrainRun()}
_HYDRA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # one part of a key DVC's -S (Hydra's grammar) reads
_PLAIN = re.compile(r"[A-Za-z0-9_./+-]+")  # a string Hydra reads unquoted, unless it reads as a number etc.
_NOT_STRINGS = {"true", "false", "null", "inf", "+inf", "-inf", "nan", "+nan", "-nan"}  # Hydra: any case


def _check_known(raw: Any, template: Any, key: str, source: Path) -> None:
    """Refuse a key of overrides ``raw`` that params have no place for; ``template`` is what sits at
    ``key``: a dataclass (its fields), a mapping (its keys; a run mapping takes any name) or a value."""
    if not (dataclasses.is_dataclass(template) or isinstance(template, dict)):
        return  # a value: from_dict checks it
    if not isinstance(raw, dict):
        raise HwrError(f"{source}: {key}={raw!r} replaces a whole group; give the keys it changes, "
                       f"e.g. {key}.KEY: VALUE")
    for name, value in raw.items():
        path = f"{key}.{name}" if key else str(name)
        if key in _RUNS:
            if value is not None:  # null: the run is removed
                _check_known(value, _RUNS[key], path, source)  # from_dict checks the run name
            continue
        known = ({f.name: getattr(template, f.name) for f in dataclasses.fields(template)}
                 if dataclasses.is_dataclass(template) else template)
        if name not in known:
            where = f" under {key}" if key else ""
            raise HwrError(f"{source}: unknown param {path}; known keys{where}: {', '.join(sorted(map(str, known)))}")
        _check_known(value, known[name], path, source)


def _deep_update(base: dict, changes: dict, prefix: str = "") -> dict:
    """``base`` with ``changes`` merged in, mapping into mapping (as DVC's ``-S key=value`` does); a
    run set to null is removed (``-S ~key``)."""
    merged = dict(base)
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _deep_update(merged[name], value, f"{prefix}{name}.")
        elif value is None and prefix[:-1] in _RUNS:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _leaves(raw: dict, prefix: str = ""):
    """(dotted key, value) of every value under ``raw`` that is not a non-empty mapping."""
    for name, value in raw.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, key + ".")
        elif not isinstance(value, dict):  # an empty mapping changes nothing
            yield key, value


def _has(raw: Any, key: str) -> bool:
    for name in key.split("."):
        if not isinstance(raw, dict) or name not in raw:
            return False
        raw = raw[name]
    return True


def _reads_as(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _hydra_value(value: Any, key: str, source: Path) -> str:
    """``value`` as DVC's ``-S`` (Hydra's override grammar) reads it back, with no whitespace (the
    shell splits ``$(...)`` at whitespace): lists and mappings in flow style, strings quoted when
    bare they would read as something else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra_value(v, key, source) for v in value) + "]"
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str) or not _HYDRA_KEY.fullmatch(name):
                raise HwrError(f"{source}: {key} has key {name!r}, which `dvc exp run -S` cannot set")
        return "{" + ",".join(f"{n}:{_hydra_value(v, key, source)}" for n, v in value.items()) + "}"
    if not isinstance(value, str):
        raise HwrError(f"{source}: {key}={value!r} is not a YAML value `dvc exp run -S` can set")
    if re.search(r"\s", value):
        raise HwrError(f"{source}: {key}={value!r} holds whitespace, which the shell splits in "
                       "`dvc exp run $(hwr overrides ...)`; set it in params.yaml instead")
    if _PLAIN.fullmatch(value) and value.lower() not in _NOT_STRINGS and _reads_as(value) == value:
        return value
    # quoted: Hydra unescapes \' and backslashes before a quote or the end; OmegaConf \${ (no interpolation)
    value = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return "'" + value.replace("${", "\\${") + "'"


def override_arguments(path: str | Path, base: str | Path = "params.yaml") -> list[str]:
    """The ``dvc exp run`` arguments that apply overrides file ``path`` (e.g. configs/study.yaml: the
    keys of params.yaml it changes, nested as there) to ``base``: ``["-S", "key.path=value", ...]``,
    one pair per leaf, in the file's order (a key ``base`` lacks, such as a new finetune run's, as
    ``+key.path=value``). No argument holds whitespace, so ``" ".join`` of them is what
    ``dvc exp run $(hwr overrides configs/study.yaml)`` needs (no shell quoting: ``$(...)`` keeps it).

    Raises :class:`HwrError` (one line) for a missing or unparsable file, a key params do not have
    (naming it) and for params that ``base`` updated with the overrides would not validate."""
    path, base = Path(path), Path(base)
    overrides = _read_yaml(path, "give the path of an overrides file, e.g. configs/study.yaml")
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        raise HwrError(f"{path}: expected a mapping of params.yaml's groups to the keys it changes, "
                       f"not {type(overrides).__name__}")
    _check_known(overrides, Params(), "", path)
    current = _read_yaml(base)
    if current is not None and not isinstance(current, dict):
        raise HwrError(f"{base}: expected a mapping of groups (rnn, data, synth, clean, ...)")
    try:
        from_dict(_deep_update(current or {}, overrides))
    except HwrError as exc:
        raise HwrError(f"{path} on {base}: {exc}") from None
    arguments = []
    for key, value in _leaves(overrides):
        if not all(_HYDRA_KEY.fullmatch(part) for part in key.split(".")):
            raise HwrError(f"{path}: {key} cannot be set by `dvc exp run -S` (each part of a key starts "
                           "with a letter or _); set it in params.yaml instead")
        if value is None and key.rpartition(".")[0] in _RUNS:
            arguments += ["-S", f"~{key}"] if _has(current, key) else []
            continue
        arguments += ["-S", f"{'' if _has(current, key) else '+'}{key}={_hydra_value(value, key, path)}"]
    return arguments
