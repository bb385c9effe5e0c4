"""The library's import graph runs one way: no module imports, at top level or inside a function,
a module that imports it back (directly or through others)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ffcnn_lib"


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 1 or (node.module or "").startswith("ffcnn_lib"):
                parts = (node.module or "").split(".")
                sub = parts[0] if node.level == 1 else (parts[1] if len(parts) > 1 else "")
                deps |= {sub} if sub else {a.name for a in node.names if a.name in modules}
        graph[path.stem] = deps & modules - {path.stem, "__init__"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (found := visit(dep, path + [dep])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_has_no_import_cycle():
    graph = _graph()
    assert graph["equivalence"] >= {"experiments"}  # the parser sees the package's imports
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_model_imports_torch_and_the_method_only():
    """``import ffcnn_lib.model`` (a fresh interpreter) loads no result store: no pandas, no hashing of
    the numerical code (``ffcnn_lib.experiments``), while ``from ffcnn_lib import Config`` still works."""
    import subprocess
    import sys
    check = ("import sys, ffcnn_lib.model; "
             "heavy = sorted(m for m in ('pandas', 'ffcnn_lib.experiments', 'ffcnn_lib.config') if m in sys.modules); "
             "assert not heavy, heavy; "
             "from ffcnn_lib import Config, run_or_load; assert 'pandas' in sys.modules and Config().model == 'ff'")
    done = subprocess.run([sys.executable, "-c", check], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
