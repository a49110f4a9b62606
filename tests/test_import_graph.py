"""The boundary between the core (`pytest_tokencost`) and the harness (`calibrate`), checked.

The import graph is read from the source with `ast`: every ``import`` and ``from ... import``
of both packages, at module level and inside functions (a lazy import is still a dependency).
Two rules:

- **No cycles**, counting every import that can run: module-level and function-level alike.
  Imports under ``if TYPE_CHECKING:`` never run and do not count for cycles.
- **The core never imports the harness**: no import of `calibrate` anywhere in
  `pytest_tokencost`, not even under ``TYPE_CHECKING`` (mypy would need the harness then).

The harness is its own distribution (`harness/`, pytest-tokencost-calibrate). The core works in
an install without it: .ci/run installs the core alone and runs its tests there; here
tests/without_calibrate hides the installed harness from a subprocess. The core reads the
harness's calibration reports as plain data (tests/harness/test_calibration_data.py checks that
what the harness writes, the core reads).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from .conftest import REPO

PACKAGES = {"pytest_tokencost": REPO, "calibrate": REPO / "harness"}  # name: its source root
WITHOUT_CALIBRATE = REPO / "tests" / "without_calibrate"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of both packages by dotted name: (its file, whether it is a package)."""
    found = {}
    for package, root in PACKAGES.items():
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:`` (never run)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return hidden


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names an import statement may load (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _known(name: str) -> str | None:
    """The module of the packages that `name` is, or lies in (an attribute: its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(*, type_checking: bool) -> dict[str, set[str]]:
    """Module -> the modules of both packages it imports (itself left out)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        hidden = set() if type_checking else _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in hidden:
                continue
            for target in _targets(module, is_package, node):
                known = _known(target)
                if known is not None and known != module:
                    graph[module].add(known)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_graph_sees_module_and_function_level_imports() -> None:
    graph = import_graph(type_checking=False)
    assert len(MODULES) > 60  # both packages, subpackages included
    assert "pytest_tokencost.settings" in graph["pytest_tokencost.plugin"]  # module level
    assert "pytest_tokencost.item_hooks" in graph["pytest_tokencost.plugin"]  # in a function
    assert "pytest_tokencost.plugin" in graph["calibrate.plugin"]  # across the packages
    assert "pytest_tokencost.calibration_data" in graph["pytest_tokencost.html.load"]  # from ..
    # Only under TYPE_CHECKING: a type, not a dependency.
    assert "pytest_tokencost.session" not in graph["pytest_tokencost.item_hooks"]
    assert (
        "pytest_tokencost.session"
        in import_graph(type_checking=True)["pytest_tokencost.item_hooks"]
    )


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph(type_checking=False)) == []


def test_the_core_never_imports_the_harness() -> None:
    graph = import_graph(type_checking=True)
    offenders = {
        module: sorted(target for target in targets if target.split(".")[0] == "calibrate")
        for module, targets in graph.items()
        if module.split(".")[0] == "pytest_tokencost"
    }
    assert {module: found for module, found in offenders.items() if found} == {}


def _private_names(module: str, path: Path) -> Iterator[str]:
    """The core's private modules and names (a part starting with `_`) that `module` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            base = node.module or ""
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pytest_tokencost" and any(part.startswith("_") for part in parts):
                yield f"{module}:{node.lineno}: {name}"


def test_the_harness_uses_only_public_names_of_the_core(tmp_path: Path) -> None:
    """No private module or name of the core (`_lazy`, a `_helper`) in `calibrate`."""
    found = [
        hit
        for module, (path, _) in MODULES.items()
        if module.split(".")[0] == "calibrate"
        for hit in _private_names(module, path)
    ]
    assert found == []
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from pytest_tokencost._lazy import lazy_exports\n"
        "def f():\n    from pytest_tokencost.plugin import _role_of, run_state\n"
        "import pytest_tokencost.settings\n",
        encoding="utf-8",
    )
    assert list(_private_names("probe", probe)) == [
        "probe:1: pytest_tokencost._lazy.lazy_exports",
        "probe:3: pytest_tokencost.plugin._role_of",
    ]


def _core_test_files() -> list[Path]:
    """The core's test files: everything under tests/ but the harness's folder."""
    return [
        path
        for path in sorted((REPO / "tests").glob("*.py"))
        if path.name != "conftest.py"  # imports the harness only if it is there
    ]


def test_the_core_test_files_do_not_import_the_harness() -> None:
    """The core's tests run without the harness: only tests/harness/ may import it."""
    files = _core_test_files()
    assert len(files) >= 40, files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                names.append(getattr(node, "module", None) or "")
                assert not any(n.split(".")[0] == "calibrate" for n in names), (path, node.lineno)


def _without_harness() -> dict[str, str]:
    """The environment of a Python where `calibrate` is not installed."""
    path = os.pathsep.join(filter(None, [str(WITHOUT_CALIBRATE), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


PROBE = """
import importlib, pkgutil, sys
import pytest_tokencost
try:
    import calibrate
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("calibrate is importable")
failed = []
for info in pkgutil.walk_packages(pytest_tokencost.__path__, "pytest_tokencost."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed) or "all imported")
print(sorted(name for name in sys.modules if name.split(".")[0] == "calibrate"))
"""


def test_every_core_module_imports_without_the_harness() -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=_without_harness(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["all imported", "[]"]


def test_pytest_and_the_command_run_without_the_harness(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(
        "def test_one(token_tracker):\n"
        "    token_tracker.record(step='s', prompt='hello there', artifact='hi', model='gpt-4o')\n",
        encoding="utf-8",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=_without_harness(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    tested = run("-m", "pytest", "-p", "no:cacheprovider", "--cost-report=term", "test_one.py")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "= Token & Cost =" in tested.stdout
    assert "--adapter" not in run("-m", "pytest", "--help").stdout  # no harness options
    helped = run("-c", "import sys; from pytest_tokencost.cli import main; sys.exit(main())", "-h")
    assert helped.returncode == 0 and "report" in helped.stdout
    assert "ratio" not in helped.stdout  # the harness's command is not there
    command = "import sys; from pytest_tokencost.cli import main; sys.exit(main())"
    ratio = run("-c", command, "ratio")
    assert ratio.returncode == 2 and ratio.stdout == ""
    assert ratio.stderr == (
        "tokencost: error: `tokencost ratio` comes with pytest-tokencost-calibrate (the "
        "calibration harness), which is not installed: pip install pytest-tokencost-calibrate "
        "(from a clone of the repository: python -m pip install -e ./harness)\n"
    )
    shown = run(
        "-c", "import sys; from pytest_tokencost.cli import main; sys.exit(main())", "report"
    )
    assert shown.returncode == 0, shown.stderr
    assert "Token & Cost" in shown.stdout


def test_the_core_distribution_ships_no_part_of_the_harness() -> None:
    """Two distributions: the core's declares no harness package or entry point; the harness's
    (harness/pyproject.toml) declares its pytest plugin, its command and its schema file."""
    core = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    harness = tomllib.loads((REPO / "harness" / "pyproject.toml").read_text(encoding="utf-8"))
    core_points = core["project"]["entry-points"]
    assert core_points == {"pytest11": {"tokencost": "pytest_tokencost.plugin"}}
    assert core["tool"]["setuptools"]["packages"]["find"]["include"] == ["pytest_tokencost*"]
    assert "calibrate" not in core["tool"]["setuptools"]["package-data"]
    assert harness["project"]["entry-points"] == {
        "pytest11": {"tokencost-calibrate": "calibrate.plugin"},
        "pytest_tokencost.commands": {"ratio": "calibrate.ratio_command:register"},
    }
    assert f"pytest-tokencost=={core['project']['version']}" in harness["project"]["dependencies"]
    assert harness["tool"]["setuptools"]["package-data"]["calibrate"] == [
        "py.typed",
        "schema/*.json",
    ]
    assert (REPO / "harness" / "calibrate" / "schema" / "request.schema.json").is_file()
