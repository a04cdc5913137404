"""One top-level package, `nuchter`, and imports that only run downward."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOLDERS = {ROOT / "model": "nuchter", ROOT / "training": "nuchter.training"}


def module_name(path: Path) -> str:
    for folder, package in sorted(FOLDERS.items(), key=lambda kv: -len(str(kv[0]))):
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise ValueError(path)


def package_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for folder in FOLDERS
        for path in folder.rglob("*.py")
        if "nuchter_metrics" not in path.parts  # a standalone `evaluate` module, loaded by path
    }


def import_graph() -> dict[str, set[str]]:
    """Every import inside the package, function-level ones included: a lazy import closes a circle too."""
    modules = package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from nuchter import store` imports the module nuchter.store, not the package's __init__
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_sees_a_lazy_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert "nuchter.classify" in graph and "nuchter.backends.onnx" in graph["nuchter.classify"]
    assert cycles(graph) == []


def old_name(node: ast.AST) -> bool:
    """An import of `model`/`training`, or a command line running `python -m model…`."""
    old = ("model", "training")
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in old
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in old for a in node.names)
    if isinstance(node, ast.List):
        words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
        return any(a == "-m" and isinstance(b, str) and b.split(".")[0] in old for a, b in zip(words, words[1:]))
    return False


def test_nothing_uses_the_old_top_level_names():
    stale = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in [*package_modules().values(), *(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if old_name(node)
    ]
    assert stale == []


def test_installed_package_is_nuchter_alone(tmp_path):
    """Outside the repository (so its folders are not on sys.path) only `nuchter` is importable."""
    probe = (
        "import importlib.util, nuchter\n"
        "from nuchter import ScoreResult, load_classifier, score_text\n"
        "import nuchter.training.train\n"
        "print(importlib.util.find_spec('model'), importlib.util.find_spec('training'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


@pytest.mark.slow
def test_wheel_installs_one_top_level_package(tmp_path):
    """What a wheel holds is what `pip install` puts into site-packages."""
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file():
            (source / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            (source / name.decode()).write_bytes(path.read_bytes())
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("nuchter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"nuchter"}
    assert "nuchter/builtin/onnx/model.int8.onnx" in names
    assert "nuchter/training/reference/corpus_test.jsonl" in names
    assert "nuchter/training/metrics/nuchter_metrics/nuchter_metrics.py" in names


def test_the_web_service_and_the_engines_score_through_the_pipeline_not_a_backend():
    """The layout's rule: front ends (the service, the distributed scan) call the one scoring path;
    only classify (which picks a backend) and the backends themselves reach into backends/."""
    graph = import_graph()
    front_ends = [name for name in graph if name.startswith(("nuchter.web.", "nuchter.engines."))]
    assert "nuchter.web.service" in front_ends and "nuchter.engines.ray" in front_ends
    for name in front_ends:
        assert not {t for t in graph[name] if t.startswith("nuchter.backends.")}, name
    assert "nuchter.scan" in graph["nuchter.engines.ray"] and "nuchter.pipeline" in graph["nuchter.scan"]
