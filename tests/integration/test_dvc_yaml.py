"""Static checks of dvc.yaml: stage commands, dependency paths and code dependencies.

DVC re-runs a stage only when a declared dependency changes, so a stage whose script imports a
module of ``hwr`` that is not among its deps keeps stale outputs after that module changes."""

import ast
import re
from pathlib import Path

import yaml
from _support import REPO_ROOT

# Code whose changes cannot change a stage's outputs: the package marker, params parsing/validation
# (the values themselves are tracked as params) and the stages' logging and error-printing wrapper.
EXEMPT = ("src/hwr/__init__.py", "src/hwr/params/", "stages/common.py")


def load_dvc_yaml():
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def load_params():
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))


def module_file(name: str) -> Path | None:
    if name == "common":
        return REPO_ROOT / "stages" / "common.py"
    base = REPO_ROOT / "src" / Path(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """Module names ``path`` imports anywhere in its body (lazy imports in functions too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)  # `from hwr import params`
    return names


def code_closure(script: Path) -> set[str]:
    """Repo-relative files of the hwr modules (and stages/common.py) ``script`` runs, transitively."""
    seen: dict[Path, str] = {}
    todo = [(script, "__main__")]
    while todo:
        path, module = todo.pop()
        for name in imported_modules(path, module):
            if not (name == "common" or name == "hwr" or name.startswith("hwr.")):
                continue
            found = module_file(name)
            if found and found not in seen:
                seen[found] = name
                todo.append((found, name))
    return {p.relative_to(REPO_ROOT).as_posix() for p in seen}


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def stages():
    """Each stage's definition; for a foreach stage, the ``do`` body that each of its runs shares."""
    return {name: stage.get("do", stage) for name, stage in load_dvc_yaml()["stages"].items()}


def test_stage_commands_run_existing_scripts():
    for name, stage in stages().items():
        match = re.fullmatch(r"python (stages/\w+\.py)( .*)?", stage["cmd"])
        assert match, f"{name}: unexpected cmd {stage['cmd']!r}"
        assert (REPO_ROOT / match.group(1)).is_file(), name


def test_code_dependencies_exist():
    for name, stage in stages().items():
        for dep in stage["deps"]:
            if dep.startswith(("src/", "stages/")):
                assert (REPO_ROOT / dep).exists(), f"{name}: dep {dep} does not exist"


def test_params_named_by_stages_exist():
    params = load_params()
    for name, stage in stages().items():
        for entry in stage.get("params", []):
            if isinstance(entry, dict) and list(entry.values()) == [None]:  # `- params.yaml:` the whole file
                assert list(entry) == ["params.yaml"], f"{name}: params file {entry} is not params.yaml"
                continue
            for key in ([entry] if isinstance(entry, str) else list(entry)):
                if "${" in key:
                    key = key.replace("${item.subset}", "first")
                if key.endswith(".${key}"):  # a foreach run's own params: the mapping iterated must exist
                    key = key[: -len(".${key}")]
                node = params
                for part in key.split("."):
                    assert isinstance(node, dict) and part in node, f"{name}: param {key} not in params.yaml"
                    node = node[part]


def test_train_and_evaluate_iterate_the_train_runs_the_study_s_four_and_the_wide_gru():
    raw, params = load_dvc_yaml()["stages"], load_params()
    assert list(params["train"]["runs"]) == ["gru-first", "lstm-first", "gru-full", "lstm-full", "gru-wide"]
    assert params["train"]["runs"]["gru-wide"] == {"rnn": "gru", "subset": "full", "cnn": "wide", "steps": 2400}
    for name in ("train", "evaluate"):
        assert raw[name]["foreach"] == "${train.runs}"
        assert raw[name]["do"]["cmd"] == f"python stages/{name}.py ${{key}}"
    body = raw["train"]["do"]
    # a run's own keys (cnn, steps) are params of its stage alone: train.runs.${key}
    assert {"train.runs.${key}", "train.subsets.${item.subset}", "train.cnn", "train.steps"} <= set(body["params"])


def test_stage_deps_cover_the_code_it_runs():
    problems = []
    for name, stage in stages().items():
        script = REPO_ROOT / stage["cmd"].split()[1]
        deps = [str(d) for d in stage["deps"]]
        needed = code_closure(script) | {script.relative_to(REPO_ROOT).as_posix()}
        missing = sorted(p for p in needed if not p.startswith(EXEMPT) and not covered(p, deps))
        if missing:
            problems.append(f"{name}: {', '.join(missing)}")
    assert not problems, "dvc.yaml stages run code they do not depend on (stale outputs when it changes):\n  " + \
        "\n  ".join(problems)


# The train stage names these modules instead of their package folders (dvc.yaml's header says why).
TRAIN_MODULES = {"src/hwr/decoding/greedy.py", "src/hwr/evaluation/metrics.py"}


def test_code_deps_are_package_folders():
    """A stage depends on whole packages (src/hwr/<package>), so a module added to a package is
    tracked with no edit to dvc.yaml; only the train stage names single modules, TRAIN_MODULES."""
    packages = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "src" / "hwr").iterdir()
                if (p / "__init__.py").is_file()}
    problems = []
    for name, stage in stages().items():
        for dep in map(str, stage["deps"]):
            allowed = packages | (TRAIN_MODULES if name == "train" else set())
            if dep.startswith("src/") and dep not in allowed:
                problems.append(f"{name}: {dep} (depend on its package folder, one of {', '.join(sorted(packages))})")
    assert not problems, "\n".join(problems)


def test_a_change_to_decoding_or_the_report_does_not_retrain():
    deps = [str(d) for d in stages()["train"]["deps"]]
    for module in ("src/hwr/decoding/beam.py", "src/hwr/decoding/factory.py", "src/hwr/decoding/lexicon.py",
                   "src/hwr/evaluation/evaluate.py", "src/hwr/evaluation/report.py", "src/hwr/adapt/runs.py",
                   "src/hwr/app/cli.py", "src/hwr/synth/writer.py"):
        assert (REPO_ROOT / module).is_file() and not covered(module, deps), module


def test_closure_finds_lazy_and_relative_imports():
    closure = code_closure(REPO_ROOT / "stages" / "synth.py")
    assert "src/hwr/synth/__init__.py" in closure and "src/hwr/synth/writer.py" in closure  # relative imports
    assert "stages/common.py" in closure
    assert "src/hwr/model/checkpoints.py" in code_closure(REPO_ROOT / "src" / "hwr" / "app" / "predictor.py")  # in a function


def test_evaluation_depends_on_the_split_it_reads_and_compare_on_the_evaluations():
    """evaluate@run reads data/tensors/<evaluate.split> and its own model; compare reads only the
    evaluations' metrics and the training summaries (it runs no model)."""
    evaluate = [str(d) for d in stages()["evaluate"]["deps"]]
    assert "data/tensors/${evaluate.split}" in evaluate and "models/${key}" in evaluate
    compare = [str(d) for d in stages()["compare"]["deps"]]
    assert "metrics/eval" in compare and not any("tensors" in d or d.startswith("models") for d in compare)
    assert "metrics/train" in compare  # every train run's summary and curves
    assert {"rnn", "reader", "train.runs"} <= set(stages()["compare"]["params"])


def test_adaptation_stages_iterate_their_runs_which_are_none_by_default():
    """finetune and selftrain are one stage per entry of their params' runs ({} by default: off);
    a run re-runs when its start model (or its unlabelled scans) change, and writes under its name."""
    raw, params = load_dvc_yaml()["stages"], load_params()
    for name in ("finetune", "selftrain"):
        assert raw[name]["foreach"] == f"${{{name}.runs}}" and params[name]["runs"] == {}, name
        body = raw[name]["do"]
        assert body["cmd"] == f"python stages/{name}.py ${{key}}"
        assert "${item.init_from}" in body["deps"] and f"{name}.runs.${{key}}" in body["params"]
        assert {"data/tensors/train", "data/tensors/validation", "data/tensors/${evaluate.split}"} <= set(body["deps"])
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in body["outs"]]
        assert {"models/${key}", "eval/${key}", f"metrics/{name}/${{key}}"} <= set(outs)
    assert "${item.unlabeled}" in raw["selftrain"]["do"]["deps"] and "selftrain/${key}" in raw["selftrain"]["do"]["outs"]
    assert "train.init_from" in raw["train"]["do"]["params"]
