"""The package's layers (docs/architecture.md, "Layers"): every import points down, and no
modules import each other in a cycle."""
import ast
import os
import os.path as osp
import re

from tests.conftest import ROOT

PACKAGE = osp.join(ROOT, 'locca_mm')


def _layers() -> dict:
    """Subpackage -> layer, read from the table in docs/architecture.md."""
    text = open(osp.join(ROOT, 'docs', 'architecture.md'), encoding='utf-8').read()
    table = text.split('## Layers', 1)[1].split('```')[1]
    layers = {}
    for line in table.splitlines():
        m = re.match(r'^(\d+)\s+((?:[a-z_]+ ?)+?)\s{2,}', line + '  ')
        if m:
            for name in m.group(2).split():
                layers[name] = int(m.group(1))
    return layers


def _module_name(path: str) -> str:
    rel = osp.relpath(path, ROOT)[:-3].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(path: str, name: str = None):
    """(line, imported module or name) of every locca_mm import in a file, at any depth."""
    name = name or _module_name(path)
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            # `from pkg import mod` imports the module pkg.mod
            targets = [f'{target}.{a.name}' if f'{target}.{a.name}' in MODULES else target
                       for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            if t == 'locca_mm' or t.startswith('locca_mm.'):
                yield node.lineno, t


def _files():
    for dirpath, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith('.py'):
                yield osp.join(dirpath, f)


MODULES = {_module_name(p): p for p in _files()}


def _resolve(target: str) -> str:
    """The module an import names (a name imported from a module resolves to the module)."""
    while target not in MODULES and '.' in target:
        target = target.rpartition('.')[0]
    return target


def test_the_table_names_every_subpackage():
    layers = _layers()
    subpackages = {n.split('.')[1] for n in MODULES if n.count('.') >= 1}
    assert subpackages == set(layers), (subpackages ^ set(layers))


def _upward(name: str, path: str, layers: dict) -> list:
    """The imports of module ``name`` (file ``path``) that break the layer rule."""
    own = name.split('.')[1] if '.' in name else None
    wrong = []
    for line, target in _imports(path, name):
        other = _resolve(target).split('.')
        other = other[1] if len(other) > 1 else None
        if other == own:
            continue
        if own is None:  # the package root: the version only
            ok = other == 'version'
        else:
            ok = other is not None and layers[other] < layers[own]
        if not ok:
            wrong.append(f'{osp.relpath(path, ROOT)}:{line} ({own}) imports {target}')
    return wrong


def test_every_import_points_down():
    layers = _layers()
    wrong = [w for name, path in MODULES.items() for w in _upward(name, path, layers)]
    assert not wrong, '\n'.join(wrong)


def test_the_rule_catches_an_import_upward_or_sideways(tmp_path):
    layers = _layers()
    bad = tmp_path / 'bad.py'
    bad.write_text('from locca_mm.structures import TaskBatch\n\n\n'
                   'def f():\n    from locca_mm.models import LocCa\n'
                   '    from locca_mm.datasets import SyntheticShapes\n')
    # As a module of evaluation (layer 4): structures is below, models and datasets beside.
    found = _upward('locca_mm.evaluation.bad', str(bad), layers)
    assert [w.split(' imports ')[1] for w in found] == ['locca_mm.models', 'locca_mm.datasets']
    assert _upward('locca_mm.cli.bad', str(bad), layers) == []  # the top floor may


def test_no_import_cycle():
    graph = {n: {_resolve(t) for _, t in _imports(p)} - {n} for n, p in MODULES.items()}
    # A package's __init__ re-exporting its modules is not a cycle with them.
    for n in graph:
        graph[n] = {t for t in graph[n] if not (osp.basename(MODULES[n]) != '__init__.py'
                                                  and n.startswith(t + '.'))}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles
