import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# every graph the tests hybridize must compile: a compiler failure is a test failure,
# not a silent fallback to the interpreter; and the kernel cache is the session's own
os.environ.setdefault("MINIGLUON_JIT_STRICT", "1")
os.environ.setdefault("MINIGLUON_CACHE_DIR", tempfile.mkdtemp(prefix="minigluon-test-cache-"))

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet-1.9.1"


@pytest.fixture(scope="session")
def oracle():
    return np.load(FIXTURES / "oracle.npz")


def fixture_cases():
    return json.loads((FIXTURES / "cases.json").read_text())["cases"]
