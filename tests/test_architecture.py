"""The layers of fastml, read from the source: imports run one way only.

    _kernels (compiled)  <-  _validation, _threads  <-  kernels, _numba
        <-  _dask  <-  public modules (metrics, neighbors, ...)  <-  cli

A module may import its own layer or any layer below it, never one above,
and the module graph has no cycle.  Imports inside functions count too: a
lazy import that runs upward is still an upward arrow.
"""
import ast
import pathlib

import fastml

PACKAGE = pathlib.Path(fastml.__file__).parent

# Lowest layer first; a module belongs to the first layer one of whose
# prefixes names it (a prefix matches the module itself and its submodules).
LAYERS = [
    ("compiled", ("fastml._kernels",)),
    ("utilities", ("fastml._validation", "fastml._threads")),
    ("kernels", ("fastml.kernels", "fastml._numba")),
    ("dask", ("fastml._dask",)),
    ("public", ("fastml.metrics", "fastml.neighbors", "fastml.preprocessing",
                "fastml.kernel_approximation", "fastml.ensemble", "fastml._set_output")),
    ("command line", ("fastml.cli", "fastml.__main__", "fastml._bench")),
]


def module_names(root):
    """Dotted name -> path of every Python module under ``root``."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name, path, known):
    """The modules of ``known`` that module ``name`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from fastml import _dask" imports the module fastml._dask
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known
                       else module for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def layer_of(name):
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    return None


def import_graph(root):
    known = module_names(root)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def upward_imports(graph):
    """(importer, imported) pairs whose arrow runs to a higher layer."""
    bad = []
    for name, targets in graph.items():
        for target in targets:
            low, high = layer_of(name), layer_of(target)
            if low is not None and high is not None and high > low:
                bad.append((name, target))
    return sorted(bad)


def cycles(graph):
    """One cycle (as a list of modules) per strongly connected group."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):   # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    unplaced = [name for name in import_graph(PACKAGE)
                if name != "fastml" and layer_of(name) is None]
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}; add them to a layer"


def test_no_import_runs_upward():
    bad = upward_imports(import_graph(PACKAGE))
    message = "\n".join(
        f"  {a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
        for a, b in bad)
    assert not bad, "imports that run upward:\n" + message


def test_no_import_cycle():
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles:\n" + "\n".join(
        "  " + " <-> ".join(group) for group in found)


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path):
    """The reader itself, on a small tree with both defects."""
    root = tmp_path / "fastml"
    (root / "kernels").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "kernels" / "__init__.py").write_text("from fastml import metrics\n")
    (root / "metrics.py").write_text(
        "def f():\n    from fastml.kernels import g\n")
    graph = import_graph(root)
    assert upward_imports(graph) == [("fastml.kernels", "fastml.metrics")]
    assert cycles(graph) == [["fastml.kernels", "fastml.metrics"]]


# Numba's internal API (numba.core and below) is used by one module only;
# the rest of fastml uses numba's documented names (numba.njit,
# numba.extending, numba.types) and llvmlite's IR builder.
NUMBA_INTERNALS = "fastml._numba.numba_internals"


def numba_internal_uses(name, path):
    """Lines of module ``name`` that import or reach into ``numba.core``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            modules = [node.module or ""]
        elif isinstance(node, ast.Attribute) and ast.unparse(node).startswith("numba.core"):
            modules = ["numba.core"]
        else:
            continue
        if any(m == "numba.core" or m.startswith("numba.core.") for m in modules):
            found.append(f"{name}:{node.lineno}")
    return found


def test_numba_internals_are_used_by_one_module():
    uses = [use for name, path in module_names(PACKAGE).items() if name != NUMBA_INTERNALS
            for use in numba_internal_uses(name, path)]
    assert not uses, (f"Numba's internal API used outside {NUMBA_INTERNALS}: {uses}; "
                      "import what you need from that module instead")
    assert numba_internal_uses(NUMBA_INTERNALS, module_names(PACKAGE)[NUMBA_INTERNALS])


# A module a newcomer can read in one sitting; a function whose code (its
# docstring not counted: those carry the Dask recipes) fits on two screens.
MAX_MODULE_LINES = 600
MAX_FUNCTION_CODE_LINES = 100


def long_units(root):
    """(where, lines) of the modules and functions over the limits."""
    found = []
    for name, path in module_names(root).items():
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            found.append((name, source.count("\n")))
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if ast.get_docstring(node, clean=False) is not None:
                    lines -= node.body[0].end_lineno - node.body[0].lineno + 1
                if lines > MAX_FUNCTION_CODE_LINES:
                    found.append((f"{name}.{node.name}", lines))
    return found


def test_no_module_or_function_is_too_long():
    found = long_units(PACKAGE)
    assert not found, "over the size limits (module: lines, function: code lines): " + \
        ", ".join(f"{where} ({lines})" for where, lines in found)


def test_the_size_check_counts_code_not_docstrings(tmp_path):
    root = tmp_path / "fastml"
    root.mkdir()
    (root / "__init__.py").write_text("")
    docstring = '    """' + "doc\n" * 200 + '    """\n'
    (root / "documented.py").write_text("def f():\n" + docstring + "    return 1\n")
    (root / "long.py").write_text("def g():\n" + "    x = 1\n" * 101)
    assert long_units(root) == [("fastml.long.g", 102)]
