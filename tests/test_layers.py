"""The package reads bottom-up: each layer imports only from its own layer or lower ones,
and eager use never loads the compiler's code generator (llvmlite)."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import minigluon

PACKAGE = Path(minigluon.__file__).parent

# lowest first; a module belongs to the layer named by its first component under minigluon/
LAYERS = [("base", "context", "util"), ("loopir",), ("ops",), ("ndarray", "symbol", "random", "numpy"),
          ("autograd",), ("compiler", "jit"), ("cached_op",),
          ("gluon", "initializer", "optimizer", "lr_scheduler", "kvstore"), ("cli", "examples", "test_utils")]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path):
    """(line, imported module) for each module-level import in path; imports inside
    functions are the deliberate exceptions and are not walked."""
    name = _module_name(path)
    return _imports(path.read_text(), name, is_package=path.name == "__init__.py")


def _imports(source: str, name: str, is_package: bool):
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if node.module is None:
                # `from .. import x`: each name may be a module of its own
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"
            else:
                yield node.lineno, target


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "minigluon" and len(parts) > 1 else None


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert tops <= set(RANK), f"modules without a layer in LAYERS: {sorted(tops - set(RANK))}"


def test_layers_import_downwards_only():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _layer(_module_name(path))
        if mine is None:  # minigluon/__init__.py assembles the public API from every layer
            continue
        for line, target in _top_level_imports(path):
            theirs = _layer(target)
            if theirs is not None and theirs in RANK and RANK[theirs] > RANK[mine]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports "
                           f"{target} ({theirs}, a higher layer)")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_walker_resolves_relative_imports_and_skips_function_bodies():
    source = ("from .. import autograd, base\nfrom ..loopir import Lazy\nfrom .registry import Op\n"
              "import numpy\ndef f():\n    from ..gluon import loss\n")
    assert list(_imports(source, "minigluon.ops.nn", is_package=False)) == [
        (1, "minigluon.autograd"), (1, "minigluon.base"), (2, "minigluon.loopir"),
        (3, "minigluon.ops.registry"), (4, "numpy")]
    assert list(_imports("from . import loss", "minigluon.gluon", is_package=True)) == [
        (1, "minigluon.gluon.loss")]


_EAGER = """
import sys
import minigluon as mg
x = mg.nd.ones((2, 3))
(x * 2).sum()
mg.gluon.loss.L2Loss()(x, x)
assert 'llvmlite' not in sys.modules, 'eager use loaded llvmlite'
loss = mg.gluon.loss.L2Loss()
loss.hybridize()
loss(x, x)
assert 'llvmlite' in sys.modules, 'a hybridized call did not compile'
print('ok')
"""


def test_eager_use_never_loads_the_compiler():
    env = dict(os.environ, MINIGLUON_JIT="1")
    res = subprocess.run([sys.executable, "-c", _EAGER], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
