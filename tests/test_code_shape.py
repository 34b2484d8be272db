"""The package stays readable: no file in locca_mm/ over 400 lines, no function or method
over 50 lines (from its ``def`` to its last line, docstring included)."""
import ast
import glob
import os.path as osp
from typing import List, Tuple

from tests.conftest import ROOT

PACKAGE = osp.join(ROOT, 'locca_mm')
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 50


def package_files() -> List[str]:
    """Every ``.py`` file of the package, repository-relative, sorted."""
    paths = glob.glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(p, ROOT) for p in paths)


def long_functions(path: str, limit: int) -> List[Tuple[str, int, int]]:
    """``(name, first line, length)`` of every function or method of ``path`` over ``limit``
    lines, counted from its ``def`` (not its decorators) to its last line."""
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((node.name, node.lineno, length))
    return sorted(found, key=lambda item: item[1])


def test_the_counter_counts_from_def_to_last_line(tmp_path):
    body = '\n'.join(f'    x{i} = {i}' for i in range(50))
    (tmp_path / 'm.py').write_text(f'@decorator\ndef f():\n    """Doc."""\n{body}\n')
    assert long_functions(str(tmp_path / 'm.py'), 50) == [('f', 2, 52)]
    assert long_functions(str(tmp_path / 'm.py'), 52) == []


def test_no_package_file_is_over_400_lines():
    offenders = []
    for path in package_files():
        with open(osp.join(ROOT, path), encoding='utf-8') as f:
            count = len(f.read().splitlines())
        if count > MAX_FILE_LINES:
            offenders.append(f'{path}: {count} lines')
    assert not offenders, 'split these files:\n' + '\n'.join(offenders)


def test_no_package_function_is_over_50_lines():
    offenders = [f'{path}:{line} {name}() {length} lines'
                 for path in package_files()
                 for name, line, length in long_functions(path, MAX_FUNCTION_LINES)]
    assert not offenders, 'split these functions into named steps:\n' + '\n'.join(offenders)
