"""``mg.gluon.contrib.nn``: MXNet 1.9.1's contributed layers done so far."""
from .basic_layers import Concurrent, HybridConcurrent, Identity

__all__ = ["Concurrent", "HybridConcurrent", "Identity"]
