import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# every graph the tests hybridize must compile: a compiler failure is a test failure,
# not a silent fallback to the interpreter
os.environ.setdefault("MINIGLUON_JIT_STRICT", "1")
# every graph the tests compile is verified after each compiler pass (compiler/verify.py)
os.environ.setdefault("MINIGLUON_CHECK_PASSES", "1")
# the kernel cache is the session's own, even when the user exported one: some tests count
# what a fresh cache compiles, and would fail on the second run over a shared directory.
# mkdtemp makes it 0700, the only mode the cache accepts.
_CACHE_DIR = tempfile.mkdtemp(prefix="minigluon-test-cache-")
os.environ["MINIGLUON_CACHE_DIR"] = _CACHE_DIR
_SESSION_PID = os.getpid()


@atexit.register
def _remove_cache_dir():
    # a forked test child runs atexit too, while the session still uses the directory
    if os.getpid() == _SESSION_PID:
        shutil.rmtree(_CACHE_DIR, ignore_errors=True)


FIXTURES = Path(__file__).parent / "fixtures" / "mxnet-1.9.1"


@pytest.fixture(scope="session")
def oracle():
    return np.load(FIXTURES / "oracle.npz")


def fixture_cases():
    return json.loads((FIXTURES / "cases.json").read_text())["cases"]
