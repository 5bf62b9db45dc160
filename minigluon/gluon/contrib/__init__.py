"""``mg.gluon.contrib``: MXNet 1.9.1's contributed Gluon blocks done so far (``contrib.nn``)."""
from . import nn

__all__ = ["nn"]
