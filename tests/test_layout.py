"The package's layout: imports run one way (down the layers), no cycle, no private name used outside its module, one task table."
import ast
from pathlib import Path
import pytest
from abc3d.tasks import TASKS

PKG = Path(__file__).resolve().parents[1]/'abc3d'
# the layers, bottom to top: a module may import from its own layer (without a cycle) and the layers below it
LAYERS = ['core', 'tasks', 'data', 'sim', 'models', 'train', 'predict', 'baselines', 'report', 'tools', 'cli']


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob('*.py')):
        if p.name == '_modidx.py': continue
        parts = p.relative_to(PKG.parent).with_suffix('').parts
        out['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = p
    return out


def layer(mod: str) -> int:
    top = mod.split('.')[1] if mod.count('.') else 'core'
    return LAYERS.index(top)


def imports(mod: str, path: Path, known: set) -> list[tuple[str, str | None, int]]:
    "(imported module, imported name or None, line) of every abc3d import in a module, lazy ones inside functions included."
    pkg = mod if path.name == '__init__.py' else mod.rsplit('.', 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split('.')[0] == 'abc3d']
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split('.')[:len(pkg.split('.')) - node.level + 1]
                src = '.'.join(base + ([node.module] if node.module else []))
            else: src = node.module or ''
            if src.split('.')[0] != 'abc3d': continue
            for a in node.names:
                sub = f'{src}.{a.name}'
                out.append((sub, None, node.lineno) if sub in known else (src, a.name, node.lineno))
    return out


def graph():
    mods = modules()
    return mods, {m: imports(m, p, set(mods)) for m, p in mods.items()}


def test_layers_are_folders():
    mods = modules()
    assert {m.split('.')[1] for m in mods if m.count('.')} <= set(LAYERS) | {'_modidx'}


def test_imports_run_down_the_layers():
    mods, g = graph()
    bad = [f"{mods[m].relative_to(PKG.parent)}:{line} imports {src} (layer '{LAYERS[layer(src)]}' above '{LAYERS[layer(m)]}')"
           for m, edges in g.items() if m != 'abc3d' for src, _, line in edges if src != 'abc3d' and layer(src) > layer(m)]
    assert not bad, '\n'.join(bad)


def test_no_import_cycle():
    mods, g = graph()
    edges = {m: sorted({s for s, _, _ in e if s in mods and s != m}) for m, e in g.items()}
    state, stack = {}, []
    def visit(m):
        state[m] = 1; stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1: raise AssertionError('import cycle: ' + ' -> '.join(stack[stack.index(n):] + [n]))
            if n not in state: visit(n)
        state[m] = 2; stack.pop()
    for m in edges:
        if m not in state: visit(m)


def test_no_private_name_across_modules():
    mods, g = graph()
    bad = [f"{mods[m].relative_to(PKG.parent)}:{line} imports {src}.{name}"
           for m, edges in g.items() for src, name, line in edges if name and name.startswith('_') and src != m]
    for m, p in mods.items():                       # module._name through an imported module
        tree = ast.parse(p.read_text())
        aliases = {a.asname or a.name: f'{n.module}.{a.name}' if isinstance(n, ast.ImportFrom) else a.name
                   for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.attr.startswith('_') and not n.attr.startswith('__'):
                target = aliases.get(n.value.id, '')
                if target in mods:
                    bad.append(f"{p.relative_to(PKG.parent)}:{n.lineno} uses {target}.{n.attr}")
    assert not bad, '\n'.join(bad)


def test_fails_on_an_upward_import(tmp_path, monkeypatch):
    "The checks above can fail: a module of a lower layer that imports a higher one is caught."
    fake = tmp_path/'abc3d'
    (fake/'data').mkdir(parents=True); (fake/'train').mkdir()
    (fake/'__init__.py').write_text(''); (fake/'data'/'__init__.py').write_text(''); (fake/'train'/'__init__.py').write_text('')
    (fake/'data'/'x.py').write_text('from ..train.y import f\n')
    (fake/'train'/'y.py').write_text('from abc3d.data.x import _g\n')
    monkeypatch.setattr(__import__(__name__), 'PKG', fake)
    with pytest.raises(AssertionError, match='imports abc3d.train.y'): test_imports_run_down_the_layers()
    with pytest.raises(AssertionError, match='import cycle'): test_no_import_cycle()
    with pytest.raises(AssertionError, match='imports abc3d.data.x._g'): test_no_private_name_across_modules()


def task_lists(path: Path, at_least: int = 5) -> list[str]:
    "Literal lists, tuples, sets and dict keys in a module that name `at_least` tasks: second task lists."
    out = []
    for n in ast.walk(ast.parse(path.read_text())):
        elts = n.keys if isinstance(n, ast.Dict) else n.elts if isinstance(n, (ast.List, ast.Tuple, ast.Set)) else []
        found = {e.value for e in elts if isinstance(e, ast.Constant) and e.value in TASKS}
        if len(found) >= at_least: out.append(f"{path.parent.name}/{path.name}:{n.lineno} {sorted(found)}")
    return out


def test_one_task_table(tmp_path):
    "No module but the task table lists the tasks (a literal naming most of them); the check finds such a list."
    bad = [b for m, p in modules().items() if m != 'abc3d.tasks' for b in task_lists(p)]
    assert not bad, '\n'.join(bad)
    second = tmp_path/'abc3d'/'m.py'; second.parent.mkdir()
    second.write_text("TASKS = ('agbd', 'canopy_height', 'canopy_profile', 'bgb', 'soc_profile')\nX = ['agbd', 'bgb']\n")
    assert task_lists(second, 5) == ["abc3d/m.py:1 ['agbd', 'bgb', 'canopy_height', 'canopy_profile', 'soc_profile']"]
    assert len(task_lists(PKG/'tasks.py')) == 0     # the table itself is built from Task entries, not a name list
