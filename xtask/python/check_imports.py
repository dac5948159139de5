"""Fails when the mirsuite package has an import cycle (a module importing, directly or through
others, a module that imports it). Reads the sources with `ast`; nothing is imported or run.

    python xtask/python/check_imports.py
"""

import ast
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mirsuite")


def module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def imports(path: str, name: str, modules: set) -> set:
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            mod = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            # `from . import x` names a submodule x when there is one.
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in modules and t != name}
    return out


def main() -> int:
    files = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".py"):
                p = os.path.join(d, n)
                files[module_name(p)] = p
    modules = set(files)
    graph = {m: imports(p, m, modules) for m, p in files.items()}
    # A package's __init__ runs before its submodules: importing a.b imports a.
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                raise SystemExit("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    print(f"mirsuite: {len(graph)} modules, no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
