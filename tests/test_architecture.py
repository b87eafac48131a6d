"""The library's shape (docs/architecture.md): packages by responsibility, imports only going down
the layers, tests mirroring the modules, and the folder layout written in one module."""

import ast
import re
from pathlib import Path

from _support import REPO_ROOT

SRC = REPO_ROOT / "src" / "hwr"
# lower layers first; a package may import its own layer's modules and any layer below, never above
LAYERS = [{"core"}, {"params"}, {"data", "synth"}, {"model"}, {"decoding"}, {"evaluation"}, {"training"}, {"adapt"}, {"app"}]
LAYER_OF = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
TOP_LEVEL = {"__init__.py"}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(SRC.parent).with_suffix("").parts): p for p in SRC.rglob("*.py")}


def hwr_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``hwr`` import in ``path``, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.split(".")[0] == "hwr"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "hwr"]
    return found


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYER_OF) else None


def test_every_module_lives_in_a_package():
    loose = sorted(p.name for p in SRC.glob("*.py") if p.name not in TOP_LEVEL)
    assert not loose, f"modules directly in src/hwr: {loose}; put each in the package of its responsibility"
    assert {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()} == set(LAYER_OF)


def test_imports_only_go_down_the_layers():
    problems = []
    for name, path in modules().items():
        here = package_of(name)
        if here is None:  # hwr/__init__.py
            problems += [f"{name}:{line} imports {m}" for line, m in hwr_imports(path)]
            continue
        for line, imported in hwr_imports(path):
            there = package_of(imported)
            if there is None or there == here:
                continue
            if LAYER_OF[there] >= LAYER_OF[here]:
                problems.append(f"{name}:{line} imports {imported} ({there} is not below {here})")
    assert not problems, "\n".join(problems)


def test_modules_stay_readable():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by responsibility): {long}"


def test_tests_mirror_the_modules():
    """tests/<package>/test_<module>.py for each module with logic of its own."""
    missing = []
    for name, path in modules().items():
        parts = name.split(".")
        if path.name == "__init__.py" or len(parts) != 3:
            continue
        package, module = parts[1], parts[2]
        if not (REPO_ROOT / "tests" / package / f"test_{module}.py").is_file():
            missing.append(f"tests/{package}/test_{module}.py")
    assert not missing, f"modules without their test file: {missing}"


def test_the_folder_layout_is_written_in_one_module():
    """Run folders and pipeline paths are spelled only in hwr.core.layout (and dvc.yaml), so that a
    stage, the hwr command and the adaptation runs cannot disagree on where a model lives."""
    spelled = re.compile(r"""["'](models|eval|metrics/eval|metrics/train|data/(tensors|lexicon|clean|interim))["'/]""")
    places = []
    for root in ("src", "stages"):
        for path in (REPO_ROOT / root).rglob("*.py"):
            if path.name == "layout.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if spelled.search(line.split("#")[0]):
                    places.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not places, "ask hwr.core.layout instead:\n" + "\n".join(places)
