"""Run Apache MXNet 1.9.1's own Python unit tests against minigluon.

    python tests/tools/mxnet_unittests.py MXNET_SRC [test_gluon.py ...] [--mxnet PYTHON]
                                          [--report FILE] [-k EXPR] [--keep]

MXNET_SRC is a checkout of MXNet at tag 1.9.1 (its ``tests/python/unittest`` is used).
The tests run in a scratch directory where ``import mxnet`` is minigluon: an alias that
implements nothing (every ``mxnet.X`` module is the ``minigluon.X`` module itself), plus
``nose.tools``, which the 1.9.1 tests import and which no longer installs on Python 3.10+.

``--mxnet PYTHON`` runs the same files with a real MXNet 1.9.1 under that interpreter
(which needs pytest and scipy), so the report compares minigluon with what MXNet itself
passes on this machine.  Not part of the test suite: MXNet's tests are not ours to ship.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# `import mxnet` as minigluon: every module of minigluon, under both names, the same object
ALIAS = '''\
"""Test-only alias: mxnet is minigluon.  Implements nothing."""
import importlib
import pkgutil
import sys

import minigluon

sys.modules["mxnet"] = minigluon
for _info in pkgutil.walk_packages(minigluon.__path__, "minigluon."):
    try:
        _module = importlib.import_module(_info.name)
    except ImportError:
        continue
    sys.modules["mxnet" + _info.name[len("minigluon"):]] = _module
'''

NOSE_TOOLS = '''\
"""The three names MXNet 1.9.1's tests take from nose.tools."""
import functools
import unittest

_case = unittest.TestCase()
assert_raises = _case.assertRaises


def make_decorator(func):
    def decorate(newfunc):
        return functools.wraps(func)(newfunc)
    return decorate


def raises(*exceptions):
    def decorate(func):
        @functools.wraps(func)
        def newfunc(*args, **kwargs):
            try:
                func(*args, **kwargs)
            except exceptions:
                return
            raise AssertionError(f"{func.__name__} did not raise {exceptions}")
        return newfunc
    return decorate
'''

# a plugin that writes each test's outcome, so the two runs can be compared by name
REPORTER = '''\
import json
import os

_RESULTS = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        prev = _RESULTS.get(report.nodeid)
        if prev in (None, "passed"):
            _RESULTS[report.nodeid] = report.outcome


def pytest_collectreport(report):
    if report.outcome == "failed":
        _RESULTS[report.nodeid + "::<collection>"] = "failed"


def pytest_sessionfinish(session):
    with open(os.environ["MXNET_UNITTESTS_OUT"], "w") as f:
        json.dump(_RESULTS, f, indent=0, sort_keys=True)
'''


def _scratch(src: Path, files: list[str], alias: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="mxnet-unittests-"))
    unit = root / "unittest"
    unit.mkdir()
    for name in files + ["common.py"]:
        shutil.copy(src / "tests/python/unittest" / name, unit / name)
    shutil.copytree(src / "tests/python/common", root / "common")
    (root / "shims/nose").mkdir(parents=True)
    (root / "shims/nose/__init__.py").write_text("")
    (root / "shims/nose/tools.py").write_text(NOSE_TOOLS)
    (root / "shims/mxnet_unittests_reporter.py").write_text(REPORTER)
    if alias:
        (root / "shims/mxnet").mkdir()
        (root / "shims/mxnet/__init__.py").write_text(ALIAS)
    return root


def run(src: Path, files: list[str], python: str, alias: bool, keyword: str | None,
        keep: bool = False) -> dict:
    root = _scratch(src, files, alias)
    out = root / "results.json"
    env = dict(os.environ, MXNET_UNITTESTS_OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(root / "shims"), os.environ.get("PYTHONPATH", "")]))
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", "-p", "mxnet_unittests_reporter",
           "-q", "--tb=no", "--continue-on-collection-errors", *files]
    if keyword:
        cmd += ["-k", keyword]
    subprocess.run(cmd, cwd=root / "unittest", env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=3600)
    results = json.loads(out.read_text()) if out.exists() else {}
    if keep:
        # to rerun one failure in detail: cd there/unittest; PYTHONPATH=../shims pytest -rf
        print(f"scratch kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="an MXNet 1.9.1 source checkout")
    ap.add_argument("files", nargs="*", default=["test_gluon.py", "test_loss.py"])
    ap.add_argument("--mxnet", help="a Python with MXNet 1.9.1, pytest and scipy")
    ap.add_argument("--report", type=Path, help="write both runs' outcomes as JSON")
    ap.add_argument("-k", dest="keyword", help="pytest -k expression")
    ap.add_argument("--keep", action="store_true", help="keep minigluon's scratch dir")
    args = ap.parse_args()
    ours = run(args.src, args.files, sys.executable, True, args.keyword, args.keep)
    theirs = run(args.src, args.files, args.mxnet, False, args.keyword) if args.mxnet else {}
    for name in args.files:
        mine = {k: v for k, v in ours.items() if k.startswith(name)}
        passed = sorted(k for k, v in mine.items() if v == "passed")
        line = f"{name}: minigluon passes {len(passed)} of {len(mine)}"
        if theirs:
            real = {k for k, v in theirs.items() if k.startswith(name) and v == "passed"}
            line += f"; MXNet 1.9.1 passes {len(real)}; minigluon passes {len(real & set(passed))} of those"
        print(line)
    if args.report:
        args.report.write_text(json.dumps({"minigluon": ours, "mxnet": theirs}, indent=1))


if __name__ == "__main__":
    main()
