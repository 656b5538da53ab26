"""The package's shape (issue 11): one physics kernel, imports that run one way.

* the rate formula and ln 2 are written in ``pyomo_llmmec/physics.py`` only (an AST
  walk, so comments and docstrings do not count); ``ALLOWED_COPIES`` lists the files
  that still hold a copy — remove a file from it once its copy is gone (the test says so);
* the graph of the package's top-level imports has no cycle, and the low layers
  (kernel, data, evaluator, solution container) never import the models, the methods,
  the workbook I/O or the command line;
* each module imports in a fresh interpreter on its own (a few in the default suite,
  every module in the slow suite).

The checkers are plain functions; the ``test_checker_*`` tests feed them bad input to
show that they can fail.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "pyomo_llmmec"
KERNEL = "physics.py"

#: files (relative to pyomo_llmmec/) that may still write the physics by hand, and why; shrink it
ALLOWED_COPIES = {
    "solvers.py": "not physics: `llmmec doctor`'s SCIP self-test MINLP has a log(1 + x) objective",
}

#: modules that must not import (at top level) any module whose name starts with one of these
LOW_LAYERS = ("errors", "units", "schema", "physics", "status", "cliargs", "validation", "scenario", "evaluator",
              "solution", "points")
HIGH_LAYERS = ("model", "methods", "io", "cli", "experiments", "compare", "export", "pyomo_solvers", "solvers")


# ---------------------------------------------------------------------------------------------
# hand-written physics
# ---------------------------------------------------------------------------------------------


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _is_one_plus(node) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            and isinstance(node.left, ast.Constant) and node.left.value in (1, 1.0))


def physics_copies(src: str) -> list[tuple[int, str]]:
    """(line, what) for every hand-written piece of the kernel in ``src``: a definition of
    ``LN2`` (using ``physics.LN2`` is fine), a call of ``log2`` or ``log1p``, or
    ``log(1 + ...)`` (the rate and the score (1))."""
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "LN2" for t in targets):
                out.append((node.lineno, "LN2 ="))
        elif isinstance(node, ast.Call):
            name = _callee(node)
            if name in ("log2", "log1p"):
                out.append((node.lineno, f"{name}(...)"))
            elif name == "log" and node.args and _is_one_plus(node.args[0]):
                out.append((node.lineno, "log(1 + ...)"))
    return out


def package_files():
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_physics_is_written_once():
    found = {}
    for p in package_files():
        rel = p.relative_to(PKG).as_posix()
        if rel != KERNEL:
            hits = physics_copies(p.read_text(encoding="utf-8"))
            if hits:
                found[rel] = hits
    unexpected = {f: h for f, h in found.items() if f not in ALLOWED_COPIES}
    assert not unexpected, "hand-written physics outside pyomo_llmmec/physics.py (call physics.* instead):\n" + "\n".join(
        f"  {f}:{line}: {what}" for f, hits in sorted(unexpected.items()) for line, what in hits)
    stale = sorted(set(ALLOWED_COPIES) - set(found))
    assert not stale, f"no physics copy left in {stale}: remove them from ALLOWED_COPIES in tests/test_architecture.py"


def test_kernel_holds_what_the_others_must_not():
    hits = {what for _, what in physics_copies((PKG / KERNEL).read_text(encoding="utf-8"))}
    assert {"LN2 =", "log1p(...)"} <= hits  # the checker's patterns do match the real formula


def test_checker_finds_hand_written_physics():
    src = (
        "import math\nimport numpy as np\nimport pyomo.environ as pyo\n"
        "LN2 = math.log(2.0)\n"
        "r = b * pyo.log(1 + g * p / b) / LN2\n"
        "s = np.log1p(x)\n"
        "# log(1 + x) in a comment does not count\n"
        "doc = 'nor in a string: log2(1 + x)'\n"
        "t = math.log(T0) + math.log(2.0) * i\n"  # a log-scale search, not physics
        "cap = gam * p / physics.LN2\n"  # the kernel's constant, used
    )
    assert sorted(physics_copies(src)) == [(4, "LN2 ="), (5, "log(1 + ...)"), (6, "log1p(...)")]


# ---------------------------------------------------------------------------------------------
# the import graph
# ---------------------------------------------------------------------------------------------


def module_name(path: Path, root: Path = PKG) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_pkg: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


def top_level_imports(src: str, module: str, is_pkg: bool, known: set[str], anywhere: bool = False) -> set[str]:
    """The package modules ``module`` imports when it is itself imported: the import statements
    of its body (also under a top-level ``if``/``try``; not those inside functions or classes,
    and not those under ``if __name__ == "__main__"``).  With ``anywhere``, every import
    statement of the file, the deferred ones inside functions too."""
    out = set()

    def visit(stmts):
        for st in stmts:
            if isinstance(st, ast.Import):
                out.update(a.name for a in st.names)
            elif isinstance(st, ast.ImportFrom):
                base = _resolve(module, is_pkg, st.level, st.module)
                subs = {f"{base}.{a.name}" for a in st.names if f"{base}.{a.name}" in known}
                out.update(subs)
                if len(subs) < len(st.names):  # a name defined in ``base`` itself
                    out.add(base)
            elif isinstance(st, ast.If):
                t = st.test
                main_guard = (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__")
                if not main_guard:
                    visit(st.body)
                    visit(st.orelse)
            elif isinstance(st, ast.Try):
                visit(st.body)
                for h in st.handlers:
                    visit(h.body)
                visit(st.orelse)
                visit(st.finalbody)

    tree = ast.parse(src)
    visit([n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))] if anywhere else tree.body)
    ancestors = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}  # loaded first anyway
    return {m for m in out if m in known and m != module and m not in ancestors}


def import_graph(files, anywhere: bool = False) -> dict[str, set[str]]:
    """module → the package modules it imports (at top level, or ``anywhere``), for ``files`` (under pyomo_llmmec/)."""
    mods = {module_name(p): p for p in files}
    known = set(mods)
    return {m: top_level_imports(p.read_text(encoding="utf-8"), m, p.name == "__init__.py", known, anywhere)
            for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first = last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                c = dfs(v)
                if c:
                    return c
        stack.pop()
        state[u] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            c = dfs(node)
            if c:
                return c
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph(package_files())
    assert len(graph) > 30 and "pyomo_llmmec.evaluator" in graph["pyomo_llmmec.solution"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_cycle_through_deferred_imports_either():
    """An import inside a function is no way around a cycle (scenario <-> validation used to be one)."""
    graph = import_graph(package_files(), anywhere=True)
    assert "pyomo_llmmec.methods" in graph["pyomo_llmmec.cli"]  # cli imports the methods inside its commands
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (counting imports inside functions): " + " -> ".join(cycle)


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_low_layers_do_not_import_high_layers():
    graph = import_graph(package_files())
    bad = [f"{m} imports {t}" for m, targets in graph.items() if _layer(m) in LOW_LAYERS
           for t in targets if _layer(t) in HIGH_LAYERS]
    assert not bad, "\n".join(bad)


def test_checker_finds_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("import os\ndef f():\n    from . import a  # inside a function: not top level\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..a import x\nif __name__ == '__main__':\n    from pkg.sub import c\n")
    files = sorted(pkg.rglob("*.py"))
    graph = {module_name(p, pkg): top_level_imports(p.read_text(), module_name(p, pkg), p.name == "__init__.py",
                                                    {module_name(q, pkg) for q in files}) for p in files}
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == set() and graph["pkg.sub.c"] == {"pkg.a"}
    assert find_cycle(graph) is None
    deferred = top_level_imports((pkg / "b.py").read_text(), "pkg.b", False, set(graph), anywhere=True)
    assert deferred == {"pkg.a"} and find_cycle({**graph, "pkg.b": deferred}) == ["pkg.a", "pkg.b", "pkg.a"]
    (pkg / "b.py").write_text("try:\n    from .sub.c import y\nexcept ImportError:\n    pass\n")
    graph["pkg.b"] = top_level_imports((pkg / "b.py").read_text(), "pkg.b", False, set(graph))
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]


# ---------------------------------------------------------------------------------------------
# each module on its own, in a fresh interpreter
# ---------------------------------------------------------------------------------------------

#: the modules that were in an import cycle: imported on their own in the default suite
QUICK = ("pyomo_llmmec.validation", "pyomo_llmmec.scenario", "pyomo_llmmec.experiments.cli", "pyomo_llmmec.cli")


def import_alone(modules) -> dict[str, str]:
    """Import each module in its own fresh interpreter (two at a time); module → stderr of the failures."""
    failed, running = {}, []
    todo = list(modules)
    while todo or running:
        while todo and len(running) < 2:
            m = todo.pop(0)
            running.append((m, subprocess.Popen([sys.executable, "-c", f"import {m}"], cwd=ROOT,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        m, proc = running.pop(0)
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failed[m] = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
    return failed


def test_cycle_modules_import_alone():
    """... and a module that does not exist fails (the checker can fail)."""
    assert list(import_alone(QUICK + ("pyomo_llmmec.no_such_module",))) == ["pyomo_llmmec.no_such_module"]


@pytest.mark.slow
def test_every_module_imports_alone():
    mods = sorted(module_name(p) for p in package_files() if module_name(p) != "pyomo_llmmec.__main__")
    assert import_alone(mods) == {}



def test_cli_options_come_from_the_one_declaration():
    """llmmec solve/compare take help, choices and type of every method option from SolveOptions (issue 11)."""
    import argparse
    import dataclasses

    from pyomo_llmmec.cli import build_parser
    from pyomo_llmmec.methods import SolveOptions

    fields = {f.name: f for f in dataclasses.fields(SolveOptions)}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for command in ("solve", "compare"):
        for action in sub.choices[command]._actions:
            f = fields.get(action.dest)
            if f is None or isinstance(f.default, bool):  # switches (--no-bound, -v) have their own wording
                continue
            assert action.help.startswith(f.metadata["doc"]), (command, action.dest)
            assert tuple(action.choices or ()) == tuple(f.metadata["choices"] or ()), (command, action.dest)
            checked += 1
    assert checked >= 10


def test_no_method_states_a_default_of_its_own():
    """The methods' own defaults (global's and mindtpy's 600 s) are declared in SolveOptions only, and the CLI shows
    them from there (issue 11: no default is stated twice)."""
    import re

    from pyomo_llmmec.cli import build_parser

    for module in ("methods/global_.py", "methods/mindtpy_.py", "cli.py", "compare.py"):
        text = (PKG / module).read_text(encoding="utf-8")
        assert not re.search(r"\b600(\.0)?\b", text), module
    assert "global: 600; mindtpy: 600" in " ".join(build_parser().format_help().split()) or any(
        "global: 600; mindtpy: 600" in " ".join(a.help.split())
        for sp in build_parser()._subparsers._group_actions[0].choices.values() for a in sp._actions if a.help)
