import json
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "mxnet-1.9.1"


@pytest.fixture(scope="session")
def oracle():
    return np.load(FIXTURES / "oracle.npz")


def fixture_cases():
    return json.loads((FIXTURES / "cases.json").read_text())["cases"]
