"""The package's shape: stages as subpackages, imports pointing down the flow, no cycle.

These read the source with ``ast`` (nothing is imported to judge it), so a cycle
made by an import inside a function counts as much as one at module level.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import symce

PACKAGE = Path(symce.__file__).resolve().parent
# The flow, bottom first: a module may import only from its own stage or one listed before it.
# grade (grading many files: JUnit XML, Gradescope) reads and verifies; cli prints what it returns.
STAGES = ["errors", "model", "read", "verify", "typeset", "export", "output", "grade", "process", "cli"]
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = ["symce", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """Every symce module that ``path`` imports, anywhere in the file, resolved to a module name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = set(_modules())
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import x` may name a submodule
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    return {name: _imports(name, path) for name, path in _modules().items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package itself, the composition root


def test_the_tree_shows_the_stages():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == {"read", "model", "verify", "typeset", "export"}
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "cli.py", "errors.py", "output.py", "grade.py", "process.py"}


def test_no_import_cycle_between_symce_modules():
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_imports_point_down_the_flow():
    upward = []
    for module, targets in _graph().items():
        here = _stage(module)
        if here is None or here == "__main__":
            continue
        for target in targets:
            there = _stage(target)
            if there is not None and STAGES.index(there) > STAGES.index(here):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_model_imports_nothing_of_symce_but_errors():
    for module, targets in _graph().items():
        if _stage(module) == "model":
            assert {_stage(t) for t in targets} <= {"model", "errors"}, (module, targets)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_no_module_is_over_500_lines(name):
    assert len(_modules()[name].read_text().splitlines()) <= MAX_LINES


def _imported_by(*argv: str) -> set[str]:
    code = ("import runpy, sys; sys.argv = ['symce', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('symce', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(' '.join(m for m in sys.modules if m.startswith('symce')), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    return set(out.stderr.strip().splitlines()[-1].split())


def test_prove_imports_neither_the_printer_nor_the_exporter():
    loaded = _imported_by("prove", "softmax-ce", "--k", "2")
    assert "symce.verify.identity" in loaded
    assert not {m for m in loaded if m.startswith(("symce.typeset.", "symce.export."))}, loaded


def test_help_imports_no_stage_module():
    loaded = _imported_by("--help")
    stage_modules = {m for m in loaded if m.count(".") >= 2}
    assert stage_modules == {"symce.model.catalogue"}, stage_modules


def test_the_public_render_stays_the_function_after_its_package_is_imported():
    import symce.typeset.document  # noqa: F401 - binds symce.typeset, never symce.render

    assert callable(symce.render) and symce.render is symce.typeset.document.render
