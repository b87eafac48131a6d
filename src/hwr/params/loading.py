"""Reading ``params.yaml`` into typed params: unknown keys (typos) refused, every value checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from hwr.core.errors import HwrError
from hwr.core.layout import RUN_NAME
from hwr.params.checks import _fail, _validate
from hwr.params.schema import (
    CleanParams,
    DataParams,
    EvaluateParams,
    FinetuneParams,
    FinetuneRun,
    LexiconParams,
    Params,
    PreprocessParams,
    SelftrainParams,
    SelftrainRun,
    SubsetParams,
    SynthParams,
    TrainParams,
    TrainRun,
)


def _build(cls, raw: Any, prefix: str):
    """Instantiate dataclass ``cls`` from a mapping, refusing unknown keys (typos)."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        _fail(prefix, raw, "expected a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise HwrError(f"params: unknown key {prefix}.{unknown[0]}; known keys: {', '.join(sorted(names))}")
    try:
        return cls(**raw)
    except TypeError as exc:  # e.g. a subset without its validation size
        raise HwrError(f"params: {prefix}: {exc}") from None


def _build_runs(cls, raw: Any, group: str, taken: tuple[str, ...] = (),
                example: str = "{init_from: pretrained/gru-full.pt}") -> dict:
    """``<group>.runs``: a mapping of run name to that run's settings (``{}``: no runs); a name in
    ``taken`` (the train stage's runs) would share their folders, so it is refused."""
    key = f"{group}.runs"
    if not isinstance(raw, dict):
        _fail(key, raw, "expected a mapping of run names to their settings ({} = no runs)")
    runs = {}
    for name, settings in raw.items():
        if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
            _fail(f"{key} name", name, "a run name is letters, digits, - and _, starting with a letter or digit "
                  "(e.g. gru-mine)")
        if name in taken:
            _fail(f"{key} name", name, f"{', '.join(taken)} are the train stage's runs (models/<name>/); "
                  "choose another name")
        if not isinstance(settings, dict):
            _fail(f"{key}.{name}", settings, f"expected a mapping of its keys, e.g. {example}")
        runs[name] = _build(cls, settings, f"{key}.{name}")
    return runs


def _adaptation_group(cls, run_cls, raw: Any, group: str, taken: tuple[str, ...]):
    """The finetune or selftrain group: ``runs`` built into one dataclass per run."""
    raw = dict(raw or {})
    if "runs" in raw:
        raw["runs"] = _build_runs(run_cls, raw["runs"], group, taken)
    return _build(cls, raw, group)


def from_dict(raw: dict) -> Params:
    """Typed, validated params from the parsed contents of ``params.yaml``."""
    if raw is not None and not isinstance(raw, dict):
        _fail("params", raw, "expected a mapping of groups (rnn, data, synth, clean, ...)")
    raw = dict(raw or {})
    for group in ("data", "synth", "clean", "preprocess", "train", "lexicon", "evaluate", "finetune", "selftrain"):
        if raw.get(group) is not None and not isinstance(raw[group], dict):
            _fail(group, raw[group], "expected a mapping of its keys")
    train = dict(raw.get("train") or {})
    if "subsets" in train:
        subsets = train["subsets"]
        if not isinstance(subsets, dict):
            _fail("train.subsets", subsets, "expected a mapping of first/full to sizes")
        train["subsets"] = {
            name: _build(SubsetParams, value, f"train.subsets.{name}") if isinstance(value, dict)
            else _fail(f"train.subsets.{name}", value, "expected {train: N, validation: N}")
            for name, value in subsets.items()
        }
    if "runs" in train:
        train["runs"] = _build_runs(TrainRun, train["runs"], "train", example="{rnn: gru, subset: full, cnn: wide}")
    train_runs = tuple(train.get("runs") or TrainParams().runs)
    clean = dict(raw.get("clean") or {})
    if "drop_labels" in clean:
        if isinstance(clean["drop_labels"], str):  # tuple() would split it into letters
            _fail("clean.drop_labels", clean["drop_labels"], "expected a list, e.g. [UNREADABLE]")
        if not isinstance(clean["drop_labels"], (list, tuple, type(None))):
            _fail("clean.drop_labels", clean["drop_labels"], "expected a list, e.g. [UNREADABLE]")
        clean["drop_labels"] = tuple(clean["drop_labels"] or ())
    lexicon = dict(raw.get("lexicon") or {})
    if "sources" in lexicon:
        if not isinstance(lexicon["sources"], (list, tuple, type(None))):
            _fail("lexicon.sources", lexicon["sources"], "expected a list, e.g. [names-dataset:FR]")
        lexicon["sources"] = tuple(lexicon["sources"] or ())
    known = {f.name for f in dataclasses.fields(Params)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HwrError(f"params: unknown top-level key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
    try:
        params = Params(
            rnn=raw.get("rnn", Params.rnn),
            reader=raw.get("reader", Params.reader),
            data=_build(DataParams, raw.get("data"), "data"),
            synth=_build(SynthParams, raw.get("synth"), "synth"),
            clean=_build(CleanParams, clean, "clean"),
            preprocess=_build(PreprocessParams, raw.get("preprocess"), "preprocess"),
            train=_build(TrainParams, train, "train"),
            lexicon=_build(LexiconParams, lexicon, "lexicon"),
            evaluate=_build(EvaluateParams, raw.get("evaluate"), "evaluate"),
            finetune=_adaptation_group(FinetuneParams, FinetuneRun, raw.get("finetune"), "finetune", train_runs),
            selftrain=_adaptation_group(SelftrainParams, SelftrainRun, raw.get("selftrain"), "selftrain", train_runs),
        )
    except TypeError as exc:  # e.g. a missing required field in a subset
        raise HwrError(f"params: {exc}") from None
    _validate(params)
    return params


def _read_yaml(path: Path, missing: str = "run from the project root (where params.yaml lives)") -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwrError(f"{path}: not found; {missing}") from None
    except yaml.YAMLError as exc:
        raise HwrError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``; a missing or unparsable file is a one-line error."""
    return from_dict(_read_yaml(Path(path)))
